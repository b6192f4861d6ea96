"""Offline validation of the AWS deployment in `terraform/`.

Three layers, from always-on to best-effort:

1. Static checks on the HCL itself (python-hcl2): the root wires every module output
   and variable, every ingress rule is scoped to a security group or a non-world CIDR,
   no secret-like variable has a default, the container settings are real
   `QUANTCORE_*` settings of the platform, and what is written once stays written once
   (the Dagster task definitions are one `for_each`, every container definition comes
   from `modules/ecs_container`, the Dagster IAM roles share their common statements).
   These always run.
2. `terraform fmt -check` (needs only the terraform binary).
3. `terraform validate` and `terraform test` (mocked AWS provider) need the AWS provider
   plugin. `terraform init` cannot download it without internet access; it is used
   from a local plugin mirror when one exists (`TF_PLUGIN_MIRROR_DIR`, default
   `/opt/tf-plugins`), otherwise those tests are skipped with the reason.
4. Checkov, from the separate `.venv-checkov` the Makefile creates, with no failed
   check and a written justification on every skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is not installed (pip install -e '.[test]')")

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
MODULES_DIR = TF_DIR / "modules"
CHECKOV = REPO / ".venv-checkov/bin/checkov"
PLUGIN_DIR = Path(os.environ.get("TF_PLUGIN_MIRROR_DIR", "/opt/tf-plugins"))

WORLD = {"0.0.0.0/0", "::/0"}
SECRET_NAME = re.compile(r"password|passwd|token|secret", re.IGNORECASE)
SECRET_VALUE_NAME = re.compile(r"password|passwd|token", re.IGNORECASE)

# The one ingress that may carry a CIDR from outside the configuration: the NLB's gRPC
# listener, fed by var.grpc_allowed_cidrs (0.0.0.0/0 only with allow_public_grpc = true).
ALLOWED_CIDR_INGRESS = {("network", "aws_vpc_security_group_ingress_rule", "grpc_clients")}


# --------------------------------------------------------------------------------------
# HCL helpers (python-hcl2 8.x keeps the quotes of labels and string literals)
# --------------------------------------------------------------------------------------
def unq(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load_dir(path: Path) -> dict[str, list]:
    """Merge the top-level blocks of every .tf file in a directory."""
    merged: dict[str, list] = {}
    for tf in sorted(path.glob("*.tf")):
        with tf.open() as handle:
            for kind, blocks in hcl2.load(handle).items():
                merged.setdefault(kind, []).extend(blocks)
    return merged


def labelled(blocks: list[dict]) -> dict[str, dict]:
    """{'"name"': {...}} items -> {name: body} for one-label blocks (variable, output, module)."""
    out = {}
    for block in blocks:
        for label, body in block.items():
            out[unq(label)] = body
    return out


def resources(blocks: list[dict]) -> list[tuple[str, str, dict]]:
    """resource blocks -> [(type, name, body)]."""
    out = []
    for block in blocks:
        for rtype, named in block.items():
            for name, body in named.items():
                out.append((unq(rtype), unq(name), body))
    return out


def tf_text(path: Path) -> str:
    return "\n".join(tf.read_text() for tf in sorted(path.glob("*.tf")))


ROOT = load_dir(TF_DIR)
ROOT_TEXT = tf_text(TF_DIR)
MODULE_CALLS = labelled(ROOT.get("module", []))
MODULE_DIRS = sorted(p for p in MODULES_DIR.iterdir() if p.is_dir())


def module_source_dir(call: dict) -> Path:
    return (TF_DIR / unq(call["source"])).resolve()


def all_configs() -> list[tuple[str, dict]]:
    return [("root", ROOT)] + [(d.name, load_dir(d)) for d in MODULE_DIRS]


def locals_of(config: dict) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in config.get("locals", []):
        merged.update(block)
    return merged


# --------------------------------------------------------------------------------------
# 1. Static wiring checks
# --------------------------------------------------------------------------------------
def test_layout_has_every_required_module_and_root_file():
    required = {"network", "kafka", "redis", "spark", "orchestration", "serving", "storage", "iam"}
    assert required <= {d.name for d in MODULE_DIRS}
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "backend.tf.example", "terraform.tfvars.example"):
        assert (TF_DIR / name).is_file(), name
    for module in MODULE_DIRS:
        for name in ("main.tf", "variables.tf", "outputs.tf"):
            assert (module / name).is_file(), f"{module.name}/{name}"
    assert list((TF_DIR / "tests").glob("*.tftest.hcl")), "terraform/tests/*.tftest.hcl is missing"


def _nested_module_calls() -> list[tuple[str, str, dict, Path]]:
    """Module calls made by the modules themselves: (caller, call name, body, source dir)."""
    calls = []
    for module in MODULE_DIRS:
        for name, body in labelled(load_dir(module).get("module", [])).items():
            calls.append((module.name, name, body, (module / unq(body["source"])).resolve()))
    return calls


def test_every_module_directory_is_called():
    """By the root, or (shared building blocks such as ecs_container) by another module."""
    called = {module_source_dir(call) for call in MODULE_CALLS.values()}
    called |= {source for _, _, _, source in _nested_module_calls()}
    assert {d.resolve() for d in MODULE_DIRS} == called


@pytest.mark.parametrize("caller, name, call, source", _nested_module_calls(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_nested_module_variable_is_passed_or_defaulted(caller, name, call, source):
    variables = labelled(load_dir(source).get("variable", []))
    passed = {k for k in call if k not in ("source", "__is_block__", "depends_on", "providers", "count", "for_each")}
    missing = [v for v, body in variables.items() if "default" not in body and v not in passed]
    assert not missing, f"{caller}: module {name} misses required variables {missing}"
    assert not passed - set(variables), f"{caller}: module {name} passes undeclared variables {sorted(passed - set(variables))}"


@pytest.mark.parametrize("call_name", sorted(MODULE_CALLS))
def test_every_module_output_is_used_by_the_root(call_name):
    outputs = labelled(load_dir(module_source_dir(MODULE_CALLS[call_name])).get("output", []))
    assert outputs, f"module {call_name} has no outputs"
    unused = [o for o in outputs if not re.search(rf"\bmodule\.{call_name}\.{o}\b", ROOT_TEXT)]
    assert not unused, f"outputs of module {call_name} never referenced by the root: {unused}"


@pytest.mark.parametrize("call_name", sorted(MODULE_CALLS))
def test_every_module_variable_is_passed_or_defaulted(call_name):
    call = MODULE_CALLS[call_name]
    variables = labelled(load_dir(module_source_dir(call)).get("variable", []))
    passed = {k for k in call if k not in ("source", "__is_block__", "depends_on", "providers", "count", "for_each")}
    missing = [v for v, body in variables.items() if "default" not in body and v not in passed]
    assert not missing, f"module {call_name}: required variables not passed by the root: {missing}"
    unknown = sorted(passed - set(variables))
    assert not unknown, f"module {call_name}: root passes undeclared variables: {unknown}"


def _ingress_rules():
    """Every ingress rule in the configuration: (config, type, name, body)."""
    for config_name, config in all_configs():
        for rtype, name, body in resources(config.get("resource", [])):
            if rtype == "aws_vpc_security_group_ingress_rule":
                yield config_name, rtype, name, body
            elif rtype == "aws_security_group_rule" and unq(body.get("type")) == "ingress":
                yield config_name, rtype, name, body
            elif rtype == "aws_security_group":
                for inline in body.get("ingress", []) or []:
                    yield config_name, rtype, f"{name}.ingress", inline


def _cidrs(body: dict) -> list[str]:
    values = []
    for key in ("cidr_ipv4", "cidr_ipv6", "cidr_blocks", "ipv6_cidr_blocks"):
        value = body.get(key)
        if value is None:
            continue
        values.extend(value if isinstance(value, list) else [value])
    return [unq(v) for v in values]


def test_there_are_ingress_rules_to_check():
    rules = {(config, name): body for config, _, name, body in _ingress_rules()}
    # group-to-group rules (one for_each over the hop matrix) and the NLB listener CIDRs
    assert ("network", "from_group") in rules and ("network", "grpc_clients") in rules
    assert "referenced_security_group_id" in rules[("network", "from_group")]


@pytest.mark.parametrize("rule", list(_ingress_rules()), ids=lambda r: f"{r[0]}:{r[1]}.{r[2]}")
def test_every_ingress_is_scoped_to_a_group_or_a_non_world_cidr(rule):
    config_name, rtype, name, body = rule
    source_group = body.get("referenced_security_group_id") or body.get("source_security_group_id") or body.get("security_groups")
    cidrs = _cidrs(body)
    assert source_group or cidrs or body.get("prefix_list_id"), f"{rtype}.{name} has neither a source group nor a CIDR"
    assert not (set(cidrs) & WORLD), f"{rtype}.{name} opens ingress to the world: {cidrs}"
    expressions = [c for c in cidrs if "${" in c]
    if expressions:
        assert (config_name, rtype, name) in ALLOWED_CIDR_INGRESS, (
            f"{rtype}.{name} takes its CIDR from an expression ({expressions}); only the NLB listener may"
        )
        assert "nlb" in str(body.get("security_group_id")), "the CIDR-fed ingress must be on the NLB's group"
        assert "grpc" in str(body.get("from_port")) + str(body.get("to_port")), "the CIDR-fed ingress must be the gRPC port only"


def test_the_world_can_reach_the_nlb_only_by_explicit_opt_in():
    variables = labelled(ROOT.get("variable", []))
    cidrs = variables["grpc_allowed_cidrs"]
    assert unq(cidrs.get("default")) in ([], None)
    conditions = " ".join(v["condition"] for v in cidrs.get("validation", []))
    assert "allow_public_grpc" in conditions and "0.0.0.0/0" in conditions
    assert variables["allow_public_grpc"]["default"] is False
    # the network module gets exactly that list
    assert "var.grpc_allowed_cidrs" in MODULE_CALLS["network"]["grpc_allowed_cidrs"]


def test_no_egress_to_the_world_on_every_port():
    for config_name, config in all_configs():
        for rtype, name, body in resources(config.get("resource", [])):
            if rtype != "aws_vpc_security_group_egress_rule":
                continue
            if set(_cidrs(body)) & WORLD:
                assert unq(body.get("ip_protocol")) == "tcp", f"{config_name}:{name} egress to the world must be TCP"
                assert body.get("from_port") == body.get("to_port") and body.get("from_port") is not None, (
                    f"{config_name}:{name} egress to the world must be one port"
                )


@pytest.mark.parametrize("config_name, config", all_configs(), ids=lambda x: x if isinstance(x, str) else "")
def test_no_secret_like_variable_has_a_default(config_name, config):
    for name, body in labelled(config.get("variable", [])).items():
        if SECRET_NAME.search(name):
            assert "default" not in body, f"{config_name}: variable {name} looks secret and must not have a default"
        if SECRET_VALUE_NAME.search(name):
            assert body.get("sensitive") is True, f"{config_name}: variable {name} must be sensitive"


@pytest.mark.parametrize("config_name, config", all_configs(), ids=lambda x: x if isinstance(x, str) else "")
def test_outputs_never_carry_secret_values(config_name, config):
    for name, body in labelled(config.get("output", [])).items():
        value = json.dumps(body.get("value"))
        # reading a secret attribute (not e.g. aws_secretsmanager_secret.auth_token.arn)
        leak = re.search(r"\.(secret_string\w*|auth_token|random_password|password\w*)\b(?!\.)", value)
        assert not leak, f"{config_name}: output {name} exposes {leak.group(0) if leak else ''}"
        if SECRET_NAME.search(name):
            assert re.search(r"_(arn|arns|name)$", name), f"{config_name}: output {name} must be an ARN or a name"


def test_generated_secrets_are_written_write_only():
    """The SCRAM password and the gRPC token never reach the state: write-only arguments."""
    for module in ("kafka", "serving"):
        versions = [
            body
            for rtype, _, body in resources(load_dir(MODULES_DIR / module).get("resource", []))
            if rtype == "aws_secretsmanager_secret_version"
        ]
        assert versions, module
        for body in versions:
            assert "secret_string" not in body, f"{module}: secret_string would be stored in state"
            assert "secret_string_wo" in body and "secret_string_wo_version" in body


def test_every_ingress_port_matches_its_service():
    network = locals_of(load_dir(MODULES_DIR / "network"))
    text = tf_text(MODULES_DIR / "network")
    assert {p["port"] for p in network["kafka_ports"]} == {9096, 9098}
    for port, target in ((6379, '"redis"'), (5432, '"rds"')):
        assert re.search(rf'to = {target}, from = \w+, port = {port}', text), (target, port)
    assert 'to = "serve", from = "nlb", port = var.grpc_port' in text


# --- the platform settings the containers get ----------------------------------------
REQUIRED_ENV = {
    "QUANTCORE_KAFKA_BOOTSTRAP",
    "QUANTCORE_KAFKA_SECURITY_PROTOCOL",
    "QUANTCORE_KAFKA_SASL_MECHANISM",
    "QUANTCORE_KAFKA_SASL_USERNAME",
    "QUANTCORE_REDIS_URL",
    "QUANTCORE_SPARK_MASTER",
    "QUANTCORE_DATA_ROOT",
    "QUANTCORE_CHECKPOINT_ROOT",
    "QUANTCORE_SYMBOLS",
    "QUANTCORE_SHARDS",
    "QUANTCORE_SOURCE",
    "QUANTCORE_GRPC_HOST",
    "QUANTCORE_GRPC_PORT",
    "QUANTCORE_BOOK_TOPIC",
    "QUANTCORE_DEAD_LETTER_TOPIC",
    "QUANTCORE_PARTITIONS",
}
REQUIRED_SECRETS = {"QUANTCORE_KAFKA_SASL_PASSWORD", "QUANTCORE_REDIS_PASSWORD", "QUANTCORE_GRPC_TOKEN"}


def _root_locals():
    return locals_of(ROOT)


def test_container_env_has_every_required_setting_and_no_secret():
    env = _root_locals()["platform_env"]
    assert REQUIRED_ENV <= set(env), sorted(REQUIRED_ENV - set(env))
    assert not (set(env) & REQUIRED_SECRETS)
    assert unq(env["QUANTCORE_KAFKA_SECURITY_PROTOCOL"]) == "SASL_SSL"
    assert unq(env["QUANTCORE_KAFKA_SASL_MECHANISM"]) == "SCRAM-SHA-512"
    assert unq(env["QUANTCORE_SOURCE"]) == "binance"
    assert unq(env["QUANTCORE_GRPC_HOST"]) == "0.0.0.0"
    assert unq(env["QUANTCORE_REDIS_URL"]).startswith("rediss://")
    assert unq(env["QUANTCORE_DATA_ROOT"]).startswith("s3://")
    assert unq(env["QUANTCORE_CHECKPOINT_ROOT"]).startswith("s3://")
    assert "bootstrap_brokers_sasl_scram" in env["QUANTCORE_KAFKA_BOOTSTRAP"]
    assert unq(env["QUANTCORE_INGEST_TWIN"]) == "false"  # its leases are lock files of one host


def test_secrets_reach_containers_by_arn():
    root_locals = _root_locals()
    secret_keys = set()
    for name in ("kafka_secret", "redis_secret", "grpc_secret"):
        secret_keys |= set(root_locals[name])
        for value in root_locals[name].values():
            assert value.endswith("_secret_arn}"), value
    assert secret_keys == REQUIRED_SECRETS
    outputs = labelled(ROOT.get("output", []))
    assert "quantcore_env" in outputs and "quantcore_secret_arns" in outputs
    assert "local.secret_arns" in outputs["quantcore_secret_arns"]["value"]


def test_container_settings_are_real_platform_settings():
    settings = pytest.importorskip("quantcore.settings")
    fields = set(settings.FLAT_NAMES)  # every QUANTCORE_* name, lowercase, without the prefix
    env = _root_locals()["platform_env"]
    for name in set(env) | REQUIRED_SECRETS:
        assert name.startswith("QUANTCORE_")
        assert name.removeprefix("QUANTCORE_").lower() in fields, f"{name} is not a setting of the platform"


def test_ingest_runs_one_task_per_shard_with_its_shard_id():
    ingest = load_dir(MODULES_DIR / "ingest")
    services = {name: body for rtype, name, body in resources(ingest["resource"]) if rtype == "aws_ecs_service"}
    assert set(services) == {"shard"}
    assert services["shard"]["count"] == "${var.shard_count}" and services["shard"]["desired_count"] == 1
    command = locals_of(ingest)["commands"]
    for token in ('"quantcore"', '"stream"', '"ingest"', '"--shard-id"', "tostring(i)", '"--shards"', "tostring(var.shard_count)"):
        assert token in command, token
    assert MODULE_CALLS["ingest"]["shard_count"] == "${var.shard_count}"


# --- one definition per kind of thing: the ECS tasks and the Dagster IAM statements ----
def _task_definitions() -> list[tuple[str, dict]]:
    return [
        (d.name, body)
        for d in MODULE_DIRS
        for rtype, _, body in resources(load_dir(d).get("resource", []))
        if rtype == "aws_ecs_task_definition"
    ]


def test_dagster_task_definitions_are_one_for_each():
    orchestration = load_dir(MODULES_DIR / "orchestration")
    task_defs = [(name, body) for rtype, name, body in resources(orchestration["resource"]) if rtype == "aws_ecs_task_definition"]
    assert [name for name, _ in task_defs] == ["dagster"], "the webserver, daemon and run task definitions are one resource"
    body = task_defs[0][1]
    assert body["for_each"] == "${local.tasks}"
    tasks = locals_of(orchestration)["tasks"]
    assert set(tasks) == {"webserver", "daemon", "run"}
    # what each one runs, with which roles and sizes
    assert tasks["webserver"]["command"][0] == '"dagster-webserver"' and "var.webserver_port" in tasks["webserver"]["command"][4]
    assert tasks["daemon"]["command"][:2] == ['"dagster-daemon"', '"run"']
    assert tasks["run"]["command"] is None  # set by the EcsRunLauncher
    assert tasks["webserver"]["ports"] == ["${var.webserver_port}"] and tasks["daemon"]["ports"] == tasks["run"]["ports"] == []
    for key, role in (("webserver", "web"), ("daemon", "daemon"), ("run", "run")):
        assert tasks[key]["task_role_arn"] == f"${{var.{role}_task_role_arn}}"
        assert tasks[key]["cpu"] == f"${{var.{key}_cpu}}" and tasks[key]["memory"] == f"${{var.{key}_memory}}"
    assert tasks["webserver"]["execution_role_arn"] == "${var.web_execution_role_arn}"
    assert tasks["daemon"]["execution_role_arn"] == tasks["run"]["execution_role_arn"] == "${var.worker_execution_role_arn}"
    assert tasks["webserver"]["secrets"] == "${local.web_secrets}"
    assert tasks["daemon"]["secrets"] == tasks["run"]["secrets"] == "${local.worker_secrets}"
    # only the webserver (ECS Exec) has a writable root filesystem
    assert {k: t["read_only"] for k, t in tasks.items()} == {"webserver": False, "daemon": True, "run": True}
    # an existing deployment keeps its three task definitions: moved, not replaced
    moved = {(m["from"], m["to"]) for m in orchestration.get("moved", [])}
    for key in tasks:
        assert (f"${{aws_ecs_task_definition.{key}}}", f'${{aws_ecs_task_definition.dagster["{key}"]}}') in moved, key
    # the services and outputs point at the instances
    text = tf_text(MODULES_DIR / "orchestration")
    for ref in ('aws_ecs_task_definition.dagster["webserver"].arn', 'aws_ecs_task_definition.dagster["daemon"].arn', 'aws_ecs_task_definition.dagster["run"].family'):
        assert ref in text, ref


def test_every_container_definition_comes_from_the_ecs_container_module():
    task_defs = _task_definitions()
    assert {m for m, _ in task_defs} == {"ingest", "serving", "orchestration"}
    for module, body in task_defs:
        assert re.fullmatch(r"\$\{module\.container(\[(count\.index|each\.key)\])?\.json\}", body["container_definitions"]), module
        (volume,) = [v['"volume"'] for v in body["dynamic"] if '"volume"' in v]
        assert re.search(r"module\.container(\[\w+\.\w+\])?\.volumes", volume["for_each"]), module
        call = labelled(load_dir(MODULES_DIR / module)["module"])["container"]
        assert unq(call["source"]) == "../ecs_container"
    # jsonencode of a container definition exists in one place only
    for d in MODULE_DIRS:
        if d.name != "ecs_container":
            assert "readonlyRootFilesystem" not in tf_text(d) and "logConfiguration" not in tf_text(d), d.name


def test_ecs_container_builds_a_hardened_definition():
    """Checkov cannot render a container definition that is a module output, so its
    container checks (privileged, host PID, read-only root) are made here."""
    config = load_dir(MODULES_DIR / "ecs_container")
    assert "resource" not in config and "data" not in config
    definition = locals_of(config)["definition"]
    for key in ("readonlyRootFilesystem = var.read_only_root_filesystem", "initProcessEnabled = true", "logDriver = \"awslogs\"", "essential = true"):
        assert key in definition, key
    for forbidden in ("privileged", "pidMode", "ipcMode", "user =", "linuxParameters = {capabilities"):
        assert forbidden not in definition, forbidden
    variables = labelled(config["variable"])
    assert variables["read_only_root_filesystem"]["default"] is True
    # who turns it off: the Dagster webserver only (tasks.read_only above)
    for module in ("ingest", "serving"):
        assert "read_only_root_filesystem" not in labelled(load_dir(MODULES_DIR / module)["module"])["container"], module


def test_ingest_and_serve_keep_their_own_command_port_and_logs():
    ingest = labelled(load_dir(MODULES_DIR / "ingest")["module"])["container"]
    assert ingest["count"] == "${var.shard_count}" and ingest["command"] == "${local.commands[count.index]}"
    assert unq(ingest["log_stream_prefix"]) == "shard-${count.index}" and "ports" not in ingest
    assert ingest["stop_timeout"] == 30 and "var.state_dir" in ingest["environment"]
    serve = labelled(load_dir(MODULES_DIR / "serving")["module"])["container"]
    assert [unq(c) for c in serve["command"]] == ["quantcore", "stream", "serve"]
    assert serve["ports"] == ["${var.grpc_port}"] and unq(serve["log_stream_prefix"]) == "serve"
    assert serve["secrets"] == "${local.secrets}" and serve["stop_timeout"] == 30


def _policy_docs() -> dict[str, dict]:
    docs = {}
    for block in load_dir(MODULES_DIR / "iam").get("data", []):
        for dtype, named in block.items():
            if unq(dtype) == "aws_iam_policy_document":
                docs.update({unq(name): body for name, body in named.items()})
    return docs


def _statements(docs: dict[str, dict], name: str) -> list[tuple[str, frozenset, str, str]]:
    """A document's statements, those of its source_policy_documents first:
    (sid, actions, resources, conditions)."""
    out = []
    for source in docs[name].get("source_policy_documents", []) or []:
        out += _statements(docs, re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", source).group(1))
    for st in docs[name].get("statement", []):
        out.append((unq(st["sid"]), frozenset(unq(a) for a in st["actions"]), json.dumps(st["resources"]), json.dumps(st.get("condition"))))
    return out


def test_dagster_roles_share_their_common_statements():
    docs = _policy_docs()
    shared = {"dagster_stop_runs", "dagster_watch", "dagster_kms", "dagster_list_compute_logs"}
    assert shared <= set(docs)
    sources = {name: [re.search(r"\.(\w+)\.json", s).group(1) for s in docs[name].get("source_policy_documents", [])] for name in ("dagster_web", "dagster_daemon", "dagster_run")}
    assert set(sources["dagster_daemon"]) == {"dagster_stop_runs", "dagster_watch", "dagster_kms", "dagster_list_compute_logs"}
    assert set(sources["dagster_run"]) == {"dagster_watch", "dagster_kms"}
    assert set(sources["dagster_web"]) == {"dagster_stop_runs", "dagster_kms", "dagster_list_compute_logs"}
    own = {}
    for name in ("dagster_web", "dagster_daemon", "dagster_run"):
        merged = _statements(docs, name)
        sids = [s[0] for s in merged]
        assert len(sids) == len(set(sids)), f"{name}: duplicate Sid after merging {sids}"  # source_policy_documents refuses them
        own[name] = {(a, r, c) for _, acts, r, c in _statements({name: {"statement": docs[name]["statement"]}}, name) for a in acts}
    # no (action, resources, condition) written twice across the Dagster roles' own statements
    names = sorted(own)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            assert not own[first] & own[second], f"{first} and {second} repeat {sorted(own[first] & own[second])}"


def test_dagster_watch_is_read_only_but_compute_logs():
    """The statements the daemon shares with the runs must not let it change the platform."""
    docs = _policy_docs()
    actions = {a for _, acts, _, _ in _statements(docs, "dagster_watch") for a in acts}
    mutating = {a for a in actions if not re.match(r"[\w-]+:(Describe|Get|List|Connect)", a)}
    assert mutating == {"s3:PutObject"}, mutating
    daemon = {a for _, acts, _, _ in _statements(docs, "dagster_daemon") for a in acts}
    for action in ("ecs:UpdateService", "emr-serverless:StartJobRun", "emr-serverless:CancelJobRun", "kafka-cluster:CreateTopic", "s3:DeleteObject"):
        assert action not in daemon, f"the daemon must not get {action}"
    run = {a for _, acts, _, _ in _statements(docs, "dagster_run") for a in acts}
    for action in ("ecs:UpdateService", "emr-serverless:StartJobRun", "kafka-cluster:CreateTopic", "ecs:DescribeServices", "emr-serverless:GetJobRun"):
        assert action in run, f"the run role needs {action}"


# --------------------------------------------------------------------------------------
# 2. terraform fmt (no provider needed)
# --------------------------------------------------------------------------------------
def _terraform() -> str:
    binary = shutil.which("terraform") or "/usr/local/bin/terraform"
    if not Path(binary).exists():
        pytest.skip("terraform binary not found (expected on PATH or at /usr/local/bin/terraform)")
    return binary


def _tf_env() -> dict[str, str]:
    env = dict(os.environ, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_INPUT="0")
    env.pop("TF_WORKSPACE", None)
    return env


def test_terraform_fmt():
    result = subprocess.run(
        [_terraform(), "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
        capture_output=True,
        text=True,
        env=_tf_env(),
        timeout=120,
    )
    assert result.returncode == 0, f"terraform fmt -check failed; run `terraform fmt -recursive terraform`\n{result.stdout}{result.stderr}"


# --------------------------------------------------------------------------------------
# 3. terraform validate / test (need the AWS provider)
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def initialized(tmp_path_factory) -> Path:
    """A copy of terraform/ after `terraform init -backend=false`, or a skip saying why not."""
    terraform = _terraform()
    work = tmp_path_factory.mktemp("tf") / "terraform"
    shutil.copytree(TF_DIR, work, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"))
    attempts = []
    if PLUGIN_DIR.is_dir():
        attempts.append(["-plugin-dir", str(PLUGIN_DIR)])
    attempts.append([])
    errors = []
    for extra in attempts:
        result = subprocess.run(
            [terraform, "init", "-backend=false", "-input=false", "-no-color", *extra],
            cwd=work,
            capture_output=True,
            text=True,
            env=_tf_env(),
            timeout=300,
        )
        if result.returncode == 0:
            return work
        output = result.stderr + result.stdout
        reason = output[output.find("Error:"):] if "Error:" in output else output
        errors.append(f"init {' '.join(extra) or '(registry)'}: {' '.join(reason.split())[:300]}")
    pytest.skip(
        "terraform init -backend=false failed: the hashicorp/aws provider cannot be downloaded offline "
        f"and no local plugin mirror was usable (set TF_PLUGIN_MIRROR_DIR). {' | '.join(errors)}"
    )


def test_terraform_validate(initialized):
    result = subprocess.run(
        [_terraform(), "validate", "-no-color"], cwd=initialized, capture_output=True, text=True, env=_tf_env(), timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The configuration is valid" in result.stdout


def test_terraform_test_with_mocked_aws(initialized):
    result = subprocess.run(
        [_terraform(), "test", "-no-color"], cwd=initialized, capture_output=True, text=True, env=_tf_env(), timeout=900
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = re.search(r"(\d+) passed, (\d+) failed", output)
    assert summary, output
    assert int(summary.group(2)) == 0 and int(summary.group(1)) >= 5, summary.group(0)


# --------------------------------------------------------------------------------------
# 4. Checkov
# --------------------------------------------------------------------------------------
def test_checkov_has_no_failed_check():
    if not CHECKOV.exists():
        pytest.skip(f"checkov is not installed at {CHECKOV.relative_to(REPO)} (the Makefile creates .venv-checkov)")
    env = {k: v for k, v in os.environ.items() if k not in ("BC_API_KEY", "PRISMA_API_URL")}
    result = subprocess.run(
        [
            # The CI command is `checkov -d terraform --framework terraform --quiet --compact
            # --skip-download`; JSON without --quiet also lists the skips, checked below.
            str(CHECKOV), "-d", str(TF_DIR), "--framework", "terraform", "--compact",
            "--skip-download", "-o", "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov did not print a JSON report (rc={result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    reports = report if isinstance(report, list) else [report]
    unparsed = [f for r in reports for f in r["results"].get("parsing_errors", [])]
    assert not unparsed, f"checkov could not parse {unparsed}: what is in them goes unchecked"
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    assert not failed, "\n".join(f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in failed)
    assert result.returncode == 0, result.stderr[-2000:]
    passed = sum(r["summary"]["passed"] for r in reports)
    assert passed > 100, f"checkov passed only {passed} checks: did it scan the modules?"
    for r in reports:
        for skipped in r["results"].get("skipped_checks", []):
            comment = (skipped.get("check_result") or {}).get("suppress_comment", "")
            assert len(comment) > 20 and "No comment provided" not in comment, (
                f"{skipped['check_id']} on {skipped['resource']} is skipped without a real justification"
            )
