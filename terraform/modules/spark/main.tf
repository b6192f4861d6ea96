# Spark: an EMR Serverless Spark application for the compute stream (a long-running
# STREAMING job run) and the daily replays (BATCH job runs), both submitted by Dagster
# runs. Workers run in the private subnets under the `compute` security group, which
# reaches MSK and Redis. Job logs go to CloudWatch and to the artifacts bucket.

resource "aws_cloudwatch_log_group" "jobs" {
  name              = "/quantcore/${var.name_prefix}/emr-serverless"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_emrserverless_application" "this" {
  name          = "${var.name_prefix}-spark"
  release_label = var.release_label
  type          = "spark"
  architecture  = var.architecture

  auto_start_configuration {
    enabled = true
  }

  # The compute stream keeps the application busy; replays alone let it stop.
  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = var.idle_timeout_minutes
  }

  maximum_capacity {
    cpu    = var.max_cpu
    memory = var.max_memory
    disk   = var.max_disk
  }

  network_configuration {
    subnet_ids         = var.subnet_ids
    security_group_ids = [var.security_group_id]
  }

  dynamic "image_configuration" {
    for_each = var.image_uri == null ? [] : [var.image_uri]
    content {
      image_uri = image_configuration.value
    }
  }

  interactive_configuration {
    livy_endpoint_enabled = false
    studio_enabled        = false
  }
}
