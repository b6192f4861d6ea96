# Kafka: an Amazon MSK cluster with TLS in transit, encryption at rest under the
# platform key, and two client auth paths: SASL/SCRAM (port 9096, what the platform's
# librdkafka and Spark clients use) and IAM (port 9098). Unauthenticated access is off.

locals {
  server_properties = <<-PROPS
    auto.create.topics.enable=false
    default.replication.factor=${var.replication_factor}
    min.insync.replicas=${var.min_insync_replicas}
    num.partitions=${var.partitions}
    log.retention.hours=${var.retention_hours}
    unclean.leader.election.enable=false
  PROPS
}

resource "aws_cloudwatch_log_group" "broker" {
  name              = "/quantcore/${var.name_prefix}/msk"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_msk_configuration" "this" {
  # The version is in the name: a version change replaces the configuration, and
  # create_before_destroy needs the new one to have a different name.
  name              = "${var.name_prefix}-kafka-${replace(var.kafka_version, ".", "-")}"
  kafka_versions    = [var.kafka_version]
  server_properties = local.server_properties

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_msk_cluster" "this" {
  cluster_name           = var.name_prefix
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count
  enhanced_monitoring    = "DEFAULT"

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = var.subnet_ids
    security_groups = [var.security_group_id]
    storage_info {
      ebs_storage_info {
        volume_size = var.ebs_volume_gb
      }
    }
    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      scram = true
      iam   = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = var.kms_key_arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.broker.name
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.broker_count % length(var.subnet_ids) == 0
      error_message = "MSK needs broker_count (${var.broker_count}) to be a multiple of the number of client subnets/AZs (${length(var.subnet_ids)})."
    }
  }
}

# ---------------------------------------------------------------------------------
# SASL/SCRAM credentials. The password (256 bits from two crypto/rand UUIDs) is
# computed during apply and written with write-only arguments: it is never in the
# plan, the state or an output. Bump `scram_rotation` to rotate it.
#   - AmazonMSK_* (JSON username/password): what MSK reads. MSK requires this prefix
#     and a customer-managed KMS key.
#   - <prefix>/kafka-sasl-password (plain string): what ECS injects as
#     QUANTCORE_KAFKA_SASL_PASSWORD and EMR jobs resolve.
# Both are written in the same apply from the same value.
# ---------------------------------------------------------------------------------
locals {
  sasl_password = replace("${uuid()}${uuid()}", "-", "")
}

resource "aws_secretsmanager_secret" "scram" {
  #checkov:skip=CKV2_AWS_57:SCRAM credentials are rotated by bumping kafka_scram_rotation (Terraform writes both secrets in one apply); a rotation Lambda would desynchronise the MSK and client copies.
  name                    = "AmazonMSK_${var.name_prefix}-${var.sasl_username}"
  description             = "MSK SASL/SCRAM credentials of the platform's Kafka clients"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret_version" "scram" {
  secret_id = aws_secretsmanager_secret.scram.id
  secret_string_wo = jsonencode({
    username = var.sasl_username
    password = local.sasl_password
  })
  secret_string_wo_version = var.scram_rotation
}

data "aws_iam_policy_document" "scram" {
  #checkov:skip=CKV_AWS_108:This is the resource policy MSK requires on an AmazonMSK_ secret: only the MSK service may read this one secret.
  statement {
    sid       = "AWSKafkaResourcePolicy"
    actions   = ["secretsmanager:getSecretValue"]
    resources = [aws_secretsmanager_secret.scram.arn]
    principals {
      type        = "Service"
      identifiers = ["kafka.amazonaws.com"]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "scram" {
  secret_arn = aws_secretsmanager_secret.scram.arn
  policy     = data.aws_iam_policy_document.scram.json
}

resource "aws_msk_scram_secret_association" "this" {
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = [aws_secretsmanager_secret.scram.arn]
  depends_on      = [aws_secretsmanager_secret_version.scram, aws_secretsmanager_secret_policy.scram]
}

resource "aws_secretsmanager_secret" "sasl_password" {
  #checkov:skip=CKV2_AWS_57:Rotated together with the AmazonMSK_ secret by bumping kafka_scram_rotation.
  name                    = "${var.name_prefix}/kafka-sasl-password"
  description             = "QUANTCORE_KAFKA_SASL_PASSWORD: the SCRAM password (same value as the AmazonMSK_ secret)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret_version" "sasl_password" {
  secret_id                = aws_secretsmanager_secret.sasl_password.id
  secret_string_wo         = local.sasl_password
  secret_string_wo_version = var.scram_rotation
}
