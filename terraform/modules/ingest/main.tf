# Ingest: one ECS service per shard, each running exactly one Fargate task of
#   quantcore stream ingest --shard-id N --shards M
# A service per shard (not one service with M tasks) because every task needs its own
# shard id in its command. Deployments stop the old task before starting the new one
# (min 0% / max 100%) so a shard never has two producers.

data "aws_region" "current" {}

locals {
  region   = data.aws_region.current.name
  commands = [for i in range(var.shard_count) : ["quantcore", "stream", "ingest", "--shard-id", tostring(i), "--shards", tostring(var.shard_count)]]
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/quantcore/${var.name_prefix}/ingest"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# The container of shard i: the shared platform container definition with its own
# command and log stream prefix.
module "container" {
  source            = "../ecs_container"
  count             = var.shard_count
  name              = "ingest"
  image             = var.image
  command           = local.commands[count.index]
  environment       = merge(var.environment, { QUANTCORE_HOME = var.state_dir })
  secrets           = var.secrets
  mounts            = [{ volume = "tmp", path = "/tmp" }, { volume = "state", path = var.state_dir }]
  stop_timeout      = 30
  region            = local.region
  log_group         = aws_cloudwatch_log_group.this.name
  log_stream_prefix = "shard-${count.index}"
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
  container_definitions    = module.container[count.index].json

  dynamic "volume" {
    for_each = toset(module.container[count.index].volumes)
    content {
      name = volume.value
    }
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
