# Orchestration: the ECS cluster every platform task runs on, the RDS PostgreSQL that
# backs Dagster's run/event/schedule storage, and Dagster itself on Fargate:
#   - webserver (UI; no inbound rule: reach it with ECS Exec/SSM port forwarding),
#   - daemon (schedules, sensors, run queue; launches runs with EcsRunLauncher),
#   - the "run" task definition the EcsRunLauncher starts for every run
#     (DAGSTER_RUN_TASK_DEFINITION in dagster_ecs.yaml).
# Runs inherit the daemon's subnets and security group (dagster_worker).

data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name
  # The EcsRunLauncher resolves a family to its latest ACTIVE revision, so every
  # Terraform apply that registers a new revision is picked up by the next run.
  run_family = "${var.name_prefix}-dagster-run"

  dagster_env = merge(var.environment, {
    DAGSTER_HOME                    = "/opt/dagster/dagster_home"
    QUANTCORE_HOME                  = "/var/lib/dagster/quantcore"
    DAGSTER_PG_HOST                 = aws_db_instance.dagster.address
    DAGSTER_PG_PORT                 = tostring(aws_db_instance.dagster.port)
    DAGSTER_PG_USER                 = aws_db_instance.dagster.username
    DAGSTER_PG_DB                   = aws_db_instance.dagster.db_name
    DAGSTER_PG_PASSWORD_SECRET_ARN  = local.db_password_value_from
    DAGSTER_RUN_TASK_DEFINITION     = local.run_family
    DAGSTER_ECS_CONTAINER_NAME      = "run"
    DAGSTER_COMPUTE_LOG_BUCKET      = var.artifacts_bucket_name
    DAGSTER_COMPUTE_LOG_PREFIX      = "dagster/compute-logs"
    DAGSTER_LOCAL_ARTIFACT_BASE_DIR = "/var/lib/dagster"
  }, { for name, arn in var.worker_secrets : "${name}_SECRET_ARN" => arn })

  db_password_value_from = "${aws_db_instance.dagster.master_user_secret[0].secret_arn}:password::"

  web_secrets    = { DAGSTER_PG_PASSWORD = local.db_password_value_from }
  worker_secrets = merge(local.web_secrets, var.worker_secrets)

  # The three Dagster task definitions (one aws_ecs_task_definition, for_each below).
  # They share image, environment, volumes and log group; what differs is here.
  tasks = {
    webserver = {
      family             = "${var.name_prefix}-dagster-webserver"
      cpu                = var.webserver_cpu
      memory             = var.webserver_memory
      execution_role_arn = var.web_execution_role_arn
      task_role_arn      = var.web_task_role_arn
      command            = ["dagster-webserver", "-h", "0.0.0.0", "-p", tostring(var.webserver_port), "-w", var.workspace_file]
      secrets            = local.web_secrets
      ports              = [var.webserver_port]
      read_only          = false # ECS Exec (UI port forwarding) needs a writable root filesystem.
    }
    daemon = {
      family             = "${var.name_prefix}-dagster-daemon"
      cpu                = var.daemon_cpu
      memory             = var.daemon_memory
      execution_role_arn = var.worker_execution_role_arn
      task_role_arn      = var.daemon_task_role_arn
      command            = ["dagster-daemon", "run", "-w", var.workspace_file]
      secrets            = local.worker_secrets
      ports              = []
      read_only          = true
    }
    run = {
      family             = local.run_family
      cpu                = var.run_cpu
      memory             = var.run_memory
      execution_role_arn = var.worker_execution_role_arn
      task_role_arn      = var.run_task_role_arn
      command            = null # the EcsRunLauncher sets `dagster api execute_run ...`
      secrets            = local.worker_secrets
      ports              = []
      read_only          = true
    }
  }
}

# ---------------------------------------------------------------------------------
# ECS cluster
# ---------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "ecs_exec" {
  name              = "/quantcore/${var.name_prefix}/ecs-exec"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_cluster" "this" {
  name = var.name_prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = var.kms_key_arn
      logging    = "OVERRIDE"
      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.ecs_exec.name
      }
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

# ---------------------------------------------------------------------------------
# RDS PostgreSQL (Dagster storage). The master password is created and kept by RDS
# in Secrets Manager (manage_master_user_password): Terraform never sees it.
# ---------------------------------------------------------------------------------
resource "aws_db_subnet_group" "dagster" {
  name       = "${var.name_prefix}-dagster"
  subnet_ids = var.subnet_ids
}

resource "aws_db_parameter_group" "dagster" {
  name_prefix = "${var.name_prefix}-dagster-pg${split(".", var.db_engine_version)[0]}-"
  family      = "postgres${split(".", var.db_engine_version)[0]}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "log_connections"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "dagster" {
  #checkov:skip=CKV_AWS_157:Single-AZ by default to keep the control-plane DB cheap; set db_multi_az = true for production. Dagster tolerates a restart.
  #checkov:skip=CKV_AWS_118:Enhanced monitoring needs an extra role and costs; CloudWatch metrics and exported logs are enough for the Dagster DB.
  #checkov:skip=CKV_AWS_353:Performance Insights is optional (db_performance_insights); it is not offered on every micro instance class.
  #checkov:skip=CKV_AWS_354:Performance Insights is optional (db_performance_insights); when enabled it uses the platform key.
  identifier                          = "${var.name_prefix}-dagster"
  engine                              = "postgres"
  engine_version                      = var.db_engine_version
  instance_class                      = var.db_instance_class
  allocated_storage                   = var.db_allocated_storage
  max_allocated_storage               = var.db_allocated_storage * 5
  storage_type                        = "gp3"
  storage_encrypted                   = true
  kms_key_id                          = var.kms_key_arn
  db_name                             = "dagster"
  username                            = "dagster"
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = var.kms_key_arn
  iam_database_authentication_enabled = true
  db_subnet_group_name                = aws_db_subnet_group.dagster.name
  parameter_group_name                = aws_db_parameter_group.dagster.name
  vpc_security_group_ids              = [var.rds_security_group_id]
  publicly_accessible                 = false
  multi_az                            = var.db_multi_az
  backup_retention_period             = 7
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  deletion_protection                 = var.db_deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name_prefix}-dagster-final"
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  performance_insights_enabled        = var.db_performance_insights
  performance_insights_kms_key_id     = var.db_performance_insights ? var.kms_key_arn : null
}

# ---------------------------------------------------------------------------------
# Dagster on Fargate
# ---------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "dagster" {
  name              = "/quantcore/${var.name_prefix}/dagster"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# One container per task (the container name is the task key: webserver, daemon, run;
# DAGSTER_ECS_CONTAINER_NAME = "run"). Read-only root filesystem except the
# webserver's; writable scratch only where the processes need it.
module "container" {
  source                    = "../ecs_container"
  for_each                  = local.tasks
  name                      = each.key
  image                     = var.image
  command                   = each.value.command
  environment               = local.dagster_env
  secrets                   = each.value.secrets
  ports                     = each.value.ports
  read_only_root_filesystem = each.value.read_only
  mounts                    = [{ volume = "tmp", path = "/tmp" }, { volume = "dagster", path = "/var/lib/dagster" }]
  region                    = local.region
  log_group                 = aws_cloudwatch_log_group.dagster.name
  log_stream_prefix         = each.key
}

resource "aws_ecs_task_definition" "dagster" {
  #checkov:skip=CKV_AWS_336:Only the webserver instance has a writable root filesystem: ECS Exec port forwarding to the UI needs it. It holds no secret but the DB password and has no inbound rule. The daemon and run instances stay read-only (asserted by terraform/tests/ecs_tasks.tftest.hcl and tests/terraform).
  for_each                 = local.tasks
  family                   = each.value.family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = each.value.execution_role_arn
  task_role_arn            = each.value.task_role_arn
  container_definitions    = module.container[each.key].json

  dynamic "volume" {
    for_each = toset(module.container[each.key].volumes)
    content {
      name = volume.value
    }
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
}

# Before the fold these were three separate resources: keep their objects.
moved {
  from = aws_ecs_task_definition.webserver
  to   = aws_ecs_task_definition.dagster["webserver"]
}

moved {
  from = aws_ecs_task_definition.daemon
  to   = aws_ecs_task_definition.dagster["daemon"]
}

moved {
  from = aws_ecs_task_definition.run
  to   = aws_ecs_task_definition.dagster["run"]
}

resource "aws_ecs_service" "webserver" {
  name                   = "${var.name_prefix}-dagster-webserver"
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.dagster["webserver"].arn
  desired_count          = 1
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  enable_execute_command = true
  propagate_tags         = "SERVICE"

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.web_security_group_id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}

# Exactly one daemon: two would double-tick schedules and sensors.
resource "aws_ecs_service" "daemon" {
  name                               = "${var.name_prefix}-dagster-daemon"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.dagster["daemon"].arn
  desired_count                      = 1
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  propagate_tags                     = "SERVICE"

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.worker_security_group_id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}
