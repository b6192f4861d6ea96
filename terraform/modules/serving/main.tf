# Serving: the gRPC servers (quantcore stream serve) as an ECS service behind a
# Network Load Balancer on port 50051. The listener is plain TCP, or TLS (ALPN h2)
# when a certificate ARN is given. Every call needs the bearer token kept in
# Secrets Manager (QUANTCORE_GRPC_TOKEN).

data "aws_region" "current" {}

locals {
  region  = data.aws_region.current.name
  use_tls = var.certificate_arn != null
  secrets = merge(var.secrets, { QUANTCORE_GRPC_TOKEN = aws_secretsmanager_secret.grpc_token.arn })
}

# ---------------------------------------------------------------------------------
# Bearer token: 256 bits from two crypto/rand UUIDs, computed during apply and
# written write-only, so it is never in the plan, the state or an output. Bump
# bearer_rotation to rotate it (then redeploy the service).
# ---------------------------------------------------------------------------------
locals {
  grpc_token = replace("${uuid()}${uuid()}", "-", "")
}

resource "aws_secretsmanager_secret" "grpc_token" {
  #checkov:skip=CKV2_AWS_57:Rotation is a bump of grpc_bearer_rotation followed by a service redeploy; clients fetch the new token from Secrets Manager.
  name                    = "${var.name_prefix}/grpc-token"
  description             = "QUANTCORE_GRPC_TOKEN: bearer token of the gRPC API"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret_version" "grpc_token" {
  secret_id                = aws_secretsmanager_secret.grpc_token.id
  secret_string_wo         = local.grpc_token
  secret_string_wo_version = var.bearer_rotation
}

# ---------------------------------------------------------------------------------
# Network Load Balancer
# ---------------------------------------------------------------------------------
resource "aws_lb" "grpc" {
  name                             = "${var.name_prefix}-grpc"
  load_balancer_type               = "network"
  internal                         = var.internal
  subnets                          = var.subnet_ids
  security_groups                  = [var.nlb_security_group_id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection

  access_logs {
    bucket  = var.access_log_bucket
    prefix  = "nlb"
    enabled = true
  }
}

resource "aws_lb_target_group" "grpc" {
  name                   = "${var.name_prefix}-grpc"
  port                   = var.grpc_port
  protocol               = "TCP"
  target_type            = "ip"
  vpc_id                 = var.vpc_id
  deregistration_delay   = "30"
  connection_termination = true

  health_check {
    protocol            = "TCP"
    port                = "traffic-port"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "grpc" {
  load_balancer_arn        = aws_lb.grpc.arn
  port                     = var.grpc_port
  protocol                 = local.use_tls ? "TLS" : "TCP"
  certificate_arn          = var.certificate_arn
  ssl_policy               = local.use_tls ? "ELBSecurityPolicy-TLS13-1-2-2021-06" : null
  alpn_policy              = local.use_tls ? "HTTP2Preferred" : null
  tcp_idle_timeout_seconds = var.tcp_idle_timeout_seconds

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.grpc.arn
  }
}

# ---------------------------------------------------------------------------------
# gRPC servers
# ---------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "this" {
  name              = "/quantcore/${var.name_prefix}/serve"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

module "container" {
  source            = "../ecs_container"
  name              = "serve"
  image             = var.image
  command           = ["quantcore", "stream", "serve"]
  environment       = merge(var.environment, { QUANTCORE_HOME = var.state_dir })
  secrets           = local.secrets
  ports             = [var.grpc_port]
  mounts            = [{ volume = "tmp", path = "/tmp" }, { volume = "state", path = var.state_dir }]
  stop_timeout      = 30
  region            = local.region
  log_group         = aws_cloudwatch_log_group.this.name
  log_stream_prefix = "serve"
}

resource "aws_ecs_task_definition" "serve" {
  family                   = "${var.name_prefix}-serve"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn
  container_definitions    = module.container.json

  dynamic "volume" {
    for_each = toset(module.container.volumes)
    content {
      name = volume.value
    }
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
}

resource "aws_ecs_service" "serve" {
  name                               = "${var.name_prefix}-serve"
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.serve.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  propagate_tags                     = "SERVICE"
  tags                               = { "quantcore/stream" = "serve" }

  network_configuration {
    subnets          = var.service_subnet_ids
    security_groups  = [var.service_security_group_id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.grpc.arn
    container_name   = "serve"
    container_port   = var.grpc_port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_lb_listener.grpc]
}
