"""The Python code a Spark job's executors import, as one zip Spark ships to them.

A job on a cluster (a standalone master, EMR Serverless) runs its Python workers on other
machines, in other working directories, with another environment: they import the
platform's code from what Spark ships (`spark.submit.pyFiles`, `--py-files`), never from
the driver's checkout. The zip holds the shared core (with its generated protobuf code)
and the data plane; the control plane never runs on an executor.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from quantcore.settings import PathsSettings

# Where the packages are: the checkout, or site-packages in an image (`pip install .`); inside
# a shipped zip, the zip itself.
PACKAGES_ROOT = Path(__file__).resolve().parents[1]
# Top-level packages an executor may import (quantcore/v1 is the generated protobuf code).
JOB_PACKAGES = ("quantcore", "streaming")


# What the zip holds: the modules, and the data files they read as package resources (the
# protobuf descriptor set the replay's decoder is given: quantcore.wire.descriptor_set_bytes).
JOB_FILES = ("*.py", "*.desc")


def job_sources(root: Path = PACKAGES_ROOT) -> list[Path]:
    """Every .py file of the job packages (the generated code included) and their data files, sorted."""
    files = [path for package in JOB_PACKAGES for pattern in JOB_FILES for path in (root / package).rglob(pattern)
             if "__pycache__" not in path.parts]
    return sorted(files)


def sources_digest(files: list[Path], root: Path = PACKAGES_ROOT) -> str:
    """A hash of the files' names and contents: the archive is rebuilt when it changes."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def job_archive(out_dir: Path, root: Path = PACKAGES_ROOT) -> Path:
    """The zip of the job packages in `out_dir` (built once per content: a digest in the
    name, so a running job never sees its archive rewritten under it)."""
    files = job_sources(root)
    if not any(path.match("quantcore/v1/*_pb2.py") for path in files):
        from quantcore.errors import PlatformError

        raise PlatformError("the generated protobuf code (quantcore/v1/*_pb2.py) is missing",
                            "run `make proto`")
    archive = out_dir / f"quantcore-job-{sources_digest(files, root)}.zip"
    if archive.exists():
        return archive
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(f".{os.getpid()}.tmp")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in files:
            zipped.write(path, str(path.relative_to(root)))
        for package in _namespace_packages(files, root):
            # zipimport cannot import a namespace package (the generated quantcore/v1)
            zipped.writestr(f"{package}/__init__.py", "")
    partial.replace(archive)  # atomic: concurrent builders write the same bytes
    return archive


def _namespace_packages(files: list[Path], root: Path) -> list[str]:
    """Folders of the archive with modules but no __init__.py."""
    folders = {path.parent.relative_to(root) for path in files}
    return sorted(str(folder) for folder in folders if not (root / folder / "__init__.py").exists())


def home_job_archive(paths: PathsSettings) -> Path:
    """The job zip of this checkout, kept in the platform home (`<home>/spark/jobs`)."""
    return job_archive(paths.home_dir / "spark" / "jobs")


def from_checkout() -> bool:
    """Whether this process imports the platform from files (a checkout or an installed
    package), not from a shipped zip as a driver started by spark-submit --py-files does:
    its code is on the cluster already."""
    return (PACKAGES_ROOT / "quantcore").is_dir()
