"""The production dagster.yaml (quantcore_platform/deploy/dagster_ecs.yaml).

Validated with Dagster's own schemas (the instance schema, then each configurable
class's schema), its behaviour checked with Dagster's own tag-concurrency counter, and
cross-checked against the Terraform task definitions that must provide every
environment variable it reads.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

pytest.importorskip("dagster")
pytest.importorskip("dagster_aws")

from dagster import DagsterRun  # noqa: E402
from dagster._config import process_config, resolve_to_config_type  # noqa: E402
from dagster._core.instance.config import dagster_instance_config  # noqa: E402
from dagster._serdes.config_class import class_from_code_pointer  # noqa: E402
from dagster._utils.tags import TagConcurrencyLimitsCounter  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "quantcore_platform/deploy/dagster_ecs.yaml"
ORCHESTRATION = REPO / "terraform/modules/orchestration/main.tf"


def _env_refs(node) -> set[str]:
    """Every `{env: NAME}` in the YAML."""
    found = set()
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            found.add(node["env"])
        for value in node.values():
            found |= _env_refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _env_refs(value)
    return found


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())


@pytest.fixture
def env(monkeypatch, template):
    for name in _env_refs(template):
        if name.endswith("_ARN"):
            value = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:x"
        elif name.endswith("_PORT"):
            value = "5432"
        else:
            value = "value"
        monkeypatch.setenv(name, value)


def test_instance_schema_accepts_the_template(tmp_path, env):
    shutil.copy(TEMPLATE, tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert set(config["storage"]) == {"postgres"}
    db = config["storage"]["postgres"]["postgres_db"]
    assert {db[k]["env"] for k in ("hostname", "username", "password", "db_name")} == {
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    }
    assert config["run_monitoring"]["enabled"] is True


@pytest.mark.parametrize("block", ["run_launcher", "run_coordinator", "compute_logs", "local_artifact_storage"])
def test_each_configurable_class_accepts_its_config(template, env, block):
    spec = template[block]
    klass = class_from_code_pointer(spec["module"], spec["class"])
    result = process_config(resolve_to_config_type(klass.config_type()), spec["config"])
    assert result.success, [e.message for e in result.errors]


def test_runs_are_ecs_tasks_of_the_terraform_run_task_definition(template):
    launcher = template["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    config = launcher["config"]
    assert config["task_definition"] == {"env": "DAGSTER_RUN_TASK_DEFINITION"}
    assert config["container_name"] == "run"
    assert config["include_sidecars"] is False
    assert config["secrets_tag"] is None  # no ListSecrets discovery
    secrets = {s["name"]: s["valueFrom"] for s in config["secrets"]}
    assert set(secrets) == {
        "QUANTCORE_KAFKA_SASL_PASSWORD",
        "QUANTCORE_REDIS_PASSWORD",
        "QUANTCORE_GRPC_TOKEN",
        "DAGSTER_PG_PASSWORD",
    }
    assert all(set(v) == {"env"} for v in secrets.values()), "secret ARNs must come from the environment"
    # the container name matches the Terraform run task definition
    assert re.search(r"\brun\s*=\s*\{", ORCHESTRATION.read_text())


def _run(stream: str | None, run_id: str) -> DagsterRun:
    tags = {"quantcore/stream": stream} if stream else {}
    return DagsterRun(job_name=f"{stream or 'other'}_job", run_id=run_id, tags=tags)


def test_at_most_one_run_per_stream(template):
    limits = template["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert template["run_coordinator"]["class"] == "QueuedRunCoordinator"
    in_progress = [_run("compute", "a" * 32), _run("ingest", "b" * 32)]
    counter = TagConcurrencyLimitsCounter(limits, in_progress)
    assert counter.is_blocked(_run("compute", "c" * 32)), "a second compute run must wait"
    assert counter.is_blocked(_run("ingest", "d" * 32)), "a second ingest run must wait"
    assert not counter.is_blocked(_run("serve", "e" * 32)), "another stream must not wait"
    assert not counter.is_blocked(_run(None, "f" * 32)), "untagged runs are not limited"
    counter.update_counters_with_launched_item(_run("serve", "e" * 32))
    assert counter.is_blocked(_run("serve", "0" * 32))


def test_terraform_sets_every_variable_the_template_reads(template):
    text = ORCHESTRATION.read_text()
    provided = set(re.findall(r"^\s*([A-Z][A-Z0-9_]+)\s*=", text, flags=re.MULTILINE))
    # secret ARNs are derived from the worker secrets map: "<NAME>_SECRET_ARN"
    assert '"${name}_SECRET_ARN"' in text
    root = (REPO / "terraform/main.tf").read_text()
    for secret in ("QUANTCORE_KAFKA_SASL_PASSWORD", "QUANTCORE_REDIS_PASSWORD", "QUANTCORE_GRPC_TOKEN"):
        assert secret in root
        provided.add(f"{secret}_SECRET_ARN")
    provided.add("DAGSTER_PG_PASSWORD")  # ECS secret (web_secrets)
    missing = sorted(_env_refs(template) - provided)
    assert not missing, f"dagster_ecs.yaml reads variables no task definition sets: {missing}"
