# Redis: an ElastiCache replication group (primary + replica across AZs) with TLS in
# transit, encryption at rest under the platform key, and an AUTH token kept in
# Secrets Manager. The platform connects with rediss://<primary>:6379/0 and the
# token in QUANTCORE_REDIS_PASSWORD.

resource "aws_elasticache_subnet_group" "this" {
  name       = var.name_prefix
  subnet_ids = var.subnet_ids
}

resource "aws_cloudwatch_log_group" "slow_log" {
  name              = "/quantcore/${var.name_prefix}/redis/slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# The AUTH token: 256 bits from two crypto/rand UUIDs. ElastiCache's auth_token is a
# plain (sensitive) argument in the AWS provider 5.x, so unlike the other secrets this
# one also lives in the (encrypted) state. uuid() changes on every run; ignore_changes
# keeps the first value. To rotate:
#   terraform apply -replace=module.redis.aws_secretsmanager_secret_version.auth_token
# (auth_token_update_strategy = ROTATE keeps the old token valid during the switch).
locals {
  auth_token = replace("${uuid()}${uuid()}", "-", "")
}

resource "aws_secretsmanager_secret" "auth_token" {
  #checkov:skip=CKV2_AWS_57:ElastiCache has no managed rotation Lambda; rotation is a Terraform replace of the secret version (see comment above).
  name                    = "${var.name_prefix}/redis-auth-token"
  description             = "QUANTCORE_REDIS_PASSWORD: ElastiCache AUTH token"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret_version" "auth_token" {
  secret_id     = aws_secretsmanager_secret.auth_token.id
  secret_string = local.auth_token

  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id       = var.name_prefix
  description                = "QuantCore signals: latest state per symbol + update channel"
  engine                     = "redis"
  engine_version             = var.engine_version
  node_type                  = var.node_type
  num_cache_clusters         = var.num_cache_clusters
  automatic_failover_enabled = true
  multi_az_enabled           = true
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [var.security_group_id]

  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  auth_token                 = aws_secretsmanager_secret_version.auth_token.secret_string
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.snapshot_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = false

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.slow_log.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }
}
