"""boto3 clients of the `emr` launcher, from the `spark_launch` settings."""

from __future__ import annotations

from typing import Any

import boto3

from quantcore.settings import SparkLaunchSettings


def aws_client(launch: SparkLaunchSettings, service: str) -> Any:
    """A client of `service` (credentials from boto3's chain: the ECS task role in AWS),
    talking to QUANTCORE_AWS_ENDPOINT_URL when it is set (an API simulator in the tests)."""
    session = boto3.session.Session(region_name=launch.aws_region)
    return session.client(service, endpoint_url=launch.aws_endpoint_url)
