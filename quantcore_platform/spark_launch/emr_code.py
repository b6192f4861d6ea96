"""Where the `emr` launcher puts a job's code in S3, and the upload.

Everything is content-addressed under QUANTCORE_EMR_JOB_CODE_URI, so a running job never
sees its files replaced and an unchanged file is never uploaded twice:

    <code uri>/quantcore-job-<digest>/replay_job.py          the entry point
    <code uri>/quantcore-job-<digest>/quantcore-job-<digest>.zip   the platform's code (--py-files)
    <code uri>/jars/<sha256 prefix>/<jar name>               each connector jar (--jars)

The zip's digest covers every module of the job packages, the entry point's included.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantcore_platform.spark_launch.job import SparkJob


@dataclass(frozen=True)
class JobCode:
    """The S3 URIs of one job's code, and the local file each is uploaded from."""

    entry_point: str
    archive: str
    jars: tuple[str, ...]
    sources: dict[str, Path]  # URI -> local file

    @property
    def spark_submit_files(self) -> list[str]:
        return ["--py-files", self.archive, "--jars", ",".join(self.jars)]


def job_code(code_uri: str, job: SparkJob, archive: Path, jars: list[str]) -> JobCode:
    prefix = code_uri.rstrip("/") + "/"
    bundle = f"{prefix}{archive.stem}/"
    entry_point, zipped = f"{bundle}{job.entry_point.name}", f"{bundle}{archive.name}"
    jar_uris = {f"{prefix}jars/{file_digest(Path(jar))}/{Path(jar).name}": Path(jar) for jar in jars}
    return JobCode(entry_point=entry_point, archive=zipped, jars=tuple(jar_uris),
                   sources={entry_point: job.entry_point, zipped: archive, **jar_uris})


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def split_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def upload(s3: Any, code: JobCode) -> list[str]:
    """Upload what S3 does not hold yet; returns the URIs uploaded."""
    uploaded = []
    for uri, source in code.sources.items():
        bucket, key = split_s3_uri(uri)
        if not exists(s3, bucket, key):
            s3.upload_file(str(source), bucket, key)
            uploaded.append(uri)
    return uploaded


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True
