# Ingest: one ECS service per shard, each running exactly one Fargate task of
#   quantcore stream ingest --shard-id N --shards M
# A service per shard (not one service with M tasks) because every task needs its own
# shard id in its command. Deployments stop the old task before starting the new one
# (min 0% / max 100%) so a shard never has two producers.

data "aws_region" "current" {}

locals {
  region   = data.aws_region.current.name
  commands = [for i in range(var.shard_count) : ["quantcore", "stream", "ingest", "--shard-id", tostring(i), "--shards", tostring(var.shard_count)]]
  env      = merge(var.environment, { AWS_REGION = local.region, AWS_DEFAULT_REGION = local.region, QUANTCORE_HOME = var.state_dir })
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/quantcore/${var.name_prefix}/ingest"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_task_definition" "shard" {
  count                    = var.shard_count
  family                   = "${var.name_prefix}-ingest-${count.index}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn

  container_definitions = jsonencode([{
    name                   = "ingest"
    image                  = var.image
    essential              = true
    command                = local.commands[count.index]
    environment            = [for k in sort(keys(local.env)) : { name = k, value = local.env[k] }]
    secrets                = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
    readonlyRootFilesystem = true
    mountPoints = [
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
      { sourceVolume = "state", containerPath = var.state_dir, readOnly = false },
    ]
    linuxParameters = { initProcessEnabled = true }
    stopTimeout     = 30
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "shard-${count.index}"
      }
    }
  }])

  volume {
    name = "tmp"
  }
  volume {
    name = "state"
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
}

resource "aws_ecs_service" "shard" {
  count                              = var.shard_count
  name                               = "${var.name_prefix}-ingest-${count.index}"
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.shard[count.index].arn
  desired_count                      = 1
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  propagate_tags                     = "SERVICE"
  tags                               = { "quantcore/stream" = "ingest", "quantcore/shard" = tostring(count.index) }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.security_group_id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}
