# Offline tests of the ECS task definitions, one module at a time, against a mocked AWS
# provider: every task definition is built from the shared ecs_container module, and
# each service still gets its own command, ports, secrets, log stream and a read-only
# root filesystem (the Dagster webserver excepted). Checkov cannot render container
# definitions that come from a module output, so these runs check the rendered JSON.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      name = "ap-northeast-1"
    }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      address  = "qc-test-dagster.abc.ap-northeast-1.rds.amazonaws.com"
      port     = 5432
      username = "dagster"
      db_name  = "dagster"
      master_user_secret = [{
        secret_arn    = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:rds!db-1234-AbCdEf"
        kms_key_id    = "arn:aws:kms:ap-northeast-1:123456789012:key/1234"
        secret_status = "active"
      }]
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:qc-test/grpc-token-AbCdEf"
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn      = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/net/qc-test-grpc/1234"
      dns_name = "qc-test-grpc-123.elb.ap-northeast-1.amazonaws.com"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/qc-test-grpc/1234"
    }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = {
      arn = "arn:aws:ecs:ap-northeast-1:123456789012:cluster/qc-test"
    }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/qc-test-task:1"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:ap-northeast-1:123456789012:log-group:/quantcore/qc-test/x"
    }
  }
}

variables {
  name_prefix        = "qc-test"
  image              = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/qc-test:1"
  environment        = { QUANTCORE_SOURCE = "binance", QUANTCORE_SHARDS = "3" }
  subnet_ids         = ["subnet-11111111", "subnet-22222222"]
  kms_key_arn        = "arn:aws:kms:ap-northeast-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  cluster_arn        = "arn:aws:ecs:ap-northeast-1:123456789012:cluster/qc-test"
  execution_role_arn = "arn:aws:iam::123456789012:role/qc-test-exec"
  task_role_arn      = "arn:aws:iam::123456789012:role/qc-test-task"
}

run "dagster_tasks" {
  command = apply

  module {
    source = "./modules/orchestration"
  }

  variables {
    worker_secrets            = { QUANTCORE_KAFKA_SASL_PASSWORD = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:kafka-AbCdEf" }
    web_security_group_id     = "sg-11111111"
    worker_security_group_id  = "sg-22222222"
    rds_security_group_id     = "sg-33333333"
    artifacts_bucket_name     = "qc-test-artifacts"
    web_execution_role_arn    = "arn:aws:iam::123456789012:role/qc-test-web-exec"
    worker_execution_role_arn = "arn:aws:iam::123456789012:role/qc-test-worker-exec"
    web_task_role_arn         = "arn:aws:iam::123456789012:role/qc-test-web-task"
    daemon_task_role_arn      = "arn:aws:iam::123456789012:role/qc-test-daemon-task"
    run_task_role_arn         = "arn:aws:iam::123456789012:role/qc-test-run-task"
    webserver_cpu             = 1024
    webserver_memory          = 2048
    run_cpu                   = 2048
    run_memory                = 4096
    db_instance_class         = "db.t4g.micro"
  }

  assert {
    condition     = toset(keys(aws_ecs_task_definition.dagster)) == toset(["webserver", "daemon", "run"])
    error_message = "one task definition per Dagster process: webserver, daemon, run"
  }
  assert {
    condition = (
      aws_ecs_task_definition.dagster["webserver"].family == "qc-test-dagster-webserver"
      && aws_ecs_task_definition.dagster["daemon"].family == "qc-test-dagster-daemon"
      && aws_ecs_task_definition.dagster["run"].family == "qc-test-dagster-run"
      && output.run_task_definition_family == "qc-test-dagster-run"
    )
    error_message = "families: <prefix>-dagster-{webserver,daemon,run}; the run family is exported"
  }
  assert {
    condition = (
      [for k in ["webserver", "daemon", "run"] : [aws_ecs_task_definition.dagster[k].cpu, aws_ecs_task_definition.dagster[k].memory]]
      == [["1024", "2048"], ["512", "1024"], ["2048", "4096"]]
    )
    error_message = "each Dagster task keeps its own CPU and memory"
  }
  assert {
    condition = (
      aws_ecs_task_definition.dagster["webserver"].execution_role_arn == var.web_execution_role_arn
      && aws_ecs_task_definition.dagster["webserver"].task_role_arn == var.web_task_role_arn
      && aws_ecs_task_definition.dagster["daemon"].execution_role_arn == var.worker_execution_role_arn
      && aws_ecs_task_definition.dagster["daemon"].task_role_arn == var.daemon_task_role_arn
      && aws_ecs_task_definition.dagster["run"].execution_role_arn == var.worker_execution_role_arn
      && aws_ecs_task_definition.dagster["run"].task_role_arn == var.run_task_role_arn
    )
    error_message = "each Dagster task keeps its own execution and task role"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.dagster["webserver"].container_definitions)[0].command == ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "/app/workspace.yaml"]
    error_message = "the webserver runs dagster-webserver on port 3000"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.dagster["daemon"].container_definitions)[0].command == ["dagster-daemon", "run", "-w", "/app/workspace.yaml"]
    error_message = "the daemon runs dagster-daemon"
  }
  assert {
    condition     = !contains(keys(jsondecode(aws_ecs_task_definition.dagster["run"].container_definitions)[0]), "command")
    error_message = "the run task has no command: the EcsRunLauncher sets it"
  }
  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.dagster["webserver"].container_definitions)[0].portMappings == [{ containerPort = 3000, protocol = "tcp" }]
      && jsondecode(aws_ecs_task_definition.dagster["daemon"].container_definitions)[0].portMappings == []
      && jsondecode(aws_ecs_task_definition.dagster["run"].container_definitions)[0].portMappings == []
    )
    error_message = "only the webserver maps a port"
  }
  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.dagster["webserver"].container_definitions)[0].readonlyRootFilesystem == false
      && jsondecode(aws_ecs_task_definition.dagster["daemon"].container_definitions)[0].readonlyRootFilesystem == true
      && jsondecode(aws_ecs_task_definition.dagster["run"].container_definitions)[0].readonlyRootFilesystem == true
    )
    error_message = "read-only root filesystem everywhere but the webserver (ECS Exec)"
  }
  assert {
    condition = (
      [for s in jsondecode(aws_ecs_task_definition.dagster["webserver"].container_definitions)[0].secrets : s.name] == ["DAGSTER_PG_PASSWORD"]
      && [for s in jsondecode(aws_ecs_task_definition.dagster["daemon"].container_definitions)[0].secrets : s.name] == ["DAGSTER_PG_PASSWORD", "QUANTCORE_KAFKA_SASL_PASSWORD"]
      && [for s in jsondecode(aws_ecs_task_definition.dagster["run"].container_definitions)[0].secrets : s.name] == ["DAGSTER_PG_PASSWORD", "QUANTCORE_KAFKA_SASL_PASSWORD"]
    )
    error_message = "the webserver gets only the DB password; daemon and runs get the worker secrets too"
  }
  assert {
    condition = alltrue([
      for k, td in aws_ecs_task_definition.dagster : (
        jsondecode(td.container_definitions)[0].name == k
        && jsondecode(td.container_definitions)[0].image == var.image
        && jsondecode(td.container_definitions)[0].logConfiguration.options["awslogs-stream-prefix"] == k
        && jsondecode(td.container_definitions)[0].logConfiguration.options["awslogs-group"] == "/quantcore/qc-test/dagster"
        && { for e in jsondecode(td.container_definitions)[0].environment : e.name => e.value }["AWS_REGION"] == "ap-northeast-1"
        && { for e in jsondecode(td.container_definitions)[0].environment : e.name => e.value }["DAGSTER_ECS_CONTAINER_NAME"] == "run"
        && { for e in jsondecode(td.container_definitions)[0].environment : e.name => e.value }["QUANTCORE_KAFKA_SASL_PASSWORD_SECRET_ARN"] == var.worker_secrets["QUANTCORE_KAFKA_SASL_PASSWORD"]
        && { for e in jsondecode(td.container_definitions)[0].environment : e.name => e.value }["QUANTCORE_SOURCE"] == "binance"
        && [for m in jsondecode(td.container_definitions)[0].mountPoints : m.containerPath] == ["/tmp", "/var/lib/dagster"]
        && toset([for v in td.volume : v.name]) == toset(["tmp", "dagster"])
      )
    ])
    error_message = "every Dagster container: its own name and log stream, the shared image, environment, log group and volumes"
  }
}

run "ingest_tasks" {
  command = apply

  module {
    source = "./modules/ingest"
  }

  variables {
    shard_count       = 3
    secrets           = { QUANTCORE_KAFKA_SASL_PASSWORD = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:kafka-AbCdEf" }
    security_group_id = "sg-44444444"
  }

  assert {
    condition     = length(aws_ecs_task_definition.shard) == 3
    error_message = "one task definition per shard"
  }
  assert {
    condition = alltrue([
      for i, td in aws_ecs_task_definition.shard : (
        td.family == "qc-test-ingest-${i}"
        && jsondecode(td.container_definitions)[0].name == "ingest"
        && jsondecode(td.container_definitions)[0].command == ["quantcore", "stream", "ingest", "--shard-id", tostring(i), "--shards", "3"]
        && jsondecode(td.container_definitions)[0].logConfiguration.options["awslogs-stream-prefix"] == "shard-${i}"
        && jsondecode(td.container_definitions)[0].readonlyRootFilesystem == true
        && jsondecode(td.container_definitions)[0].stopTimeout == 30
        && contains(keys(jsondecode(td.container_definitions)[0]), "portMappings") == false
        && [for s in jsondecode(td.container_definitions)[0].secrets : s.name] == ["QUANTCORE_KAFKA_SASL_PASSWORD"]
        && { for e in jsondecode(td.container_definitions)[0].environment : e.name => e.value }["QUANTCORE_HOME"] == "/var/lib/quantcore"
        && { for e in jsondecode(td.container_definitions)[0].environment : e.name => e.value }["AWS_DEFAULT_REGION"] == "ap-northeast-1"
        && [for m in jsondecode(td.container_definitions)[0].mountPoints : m.containerPath] == ["/tmp", "/var/lib/quantcore"]
        && toset([for v in td.volume : v.name]) == toset(["tmp", "state"])
      )
    ])
    error_message = "shard i runs `quantcore stream ingest --shard-id i --shards 3`, read-only, no port, its own log stream"
  }
}

run "serve_task" {
  command = apply

  module {
    source = "./modules/serving"
  }

  variables {
    desired_count             = 2
    secrets                   = { QUANTCORE_REDIS_PASSWORD = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:redis-AbCdEf" }
    access_log_bucket         = "qc-test-logs"
    vpc_id                    = "vpc-11111111"
    service_subnet_ids        = ["subnet-11111111", "subnet-22222222"]
    nlb_security_group_id     = "sg-55555555"
    service_security_group_id = "sg-66666666"
  }

  assert {
    condition = (
      aws_ecs_task_definition.serve.family == "qc-test-serve"
      && jsondecode(aws_ecs_task_definition.serve.container_definitions)[0].name == "serve"
      && jsondecode(aws_ecs_task_definition.serve.container_definitions)[0].command == ["quantcore", "stream", "serve"]
      && jsondecode(aws_ecs_task_definition.serve.container_definitions)[0].portMappings == [{ containerPort = 50051, protocol = "tcp" }]
      && jsondecode(aws_ecs_task_definition.serve.container_definitions)[0].readonlyRootFilesystem == true
      && jsondecode(aws_ecs_task_definition.serve.container_definitions)[0].stopTimeout == 30
      && jsondecode(aws_ecs_task_definition.serve.container_definitions)[0].logConfiguration.options["awslogs-stream-prefix"] == "serve"
      && { for e in jsondecode(aws_ecs_task_definition.serve.container_definitions)[0].environment : e.name => e.value }["QUANTCORE_HOME"] == "/var/lib/quantcore"
    )
    error_message = "serve runs `quantcore stream serve` on 50051, read-only"
  }
  assert {
    condition = (
      { for s in jsondecode(aws_ecs_task_definition.serve.container_definitions)[0].secrets : s.name => s.valueFrom }
      == { QUANTCORE_GRPC_TOKEN = aws_secretsmanager_secret.grpc_token.arn, QUANTCORE_REDIS_PASSWORD = var.secrets["QUANTCORE_REDIS_PASSWORD"] }
    )
    error_message = "serve gets the Redis password and the gRPC token, by ARN"
  }
}
