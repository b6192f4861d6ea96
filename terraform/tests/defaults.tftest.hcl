# Offline tests of the root module: `terraform test` with a mocked AWS provider (no
# credentials, no network). Each run applies the whole stack against the mock and
# asserts on what would be created and on the outputs.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names = ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "ap-northeast-1"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      address = "quantcore-prod-dagster.abc.ap-northeast-1.rds.amazonaws.com"
      port    = 5432
      master_user_secret = [{
        secret_arn    = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:rds!db-1234-AbCdEf"
        kms_key_id    = "arn:aws:kms:ap-northeast-1:123456789012:key/1234"
        secret_status = "active"
      }]
    }
  }
  mock_resource "aws_msk_cluster" {
    defaults = {
      arn                          = "arn:aws:kafka:ap-northeast-1:123456789012:cluster/quantcore-prod/1111-2222-3"
      bootstrap_brokers_sasl_scram = "b-1.quantcore.kafka.ap-northeast-1.amazonaws.com:9096,b-2.quantcore.kafka.ap-northeast-1.amazonaws.com:9096"
      bootstrap_brokers_sasl_iam   = "b-1.quantcore.kafka.ap-northeast-1.amazonaws.com:9098,b-2.quantcore.kafka.ap-northeast-1.amazonaws.com:9098"
    }
  }
  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:ap-northeast-1:123456789012:repository/quantcore-prod"
      repository_url = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/quantcore-prod"
    }
  }
  mock_resource "aws_elasticache_replication_group" {
    defaults = {
      primary_endpoint_address = "master.quantcore-prod.abc.use1.cache.amazonaws.com"
      port                     = 6379
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn      = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/net/quantcore-prod-grpc/1234"
      dns_name = "quantcore-prod-grpc-123.elb.ap-northeast-1.amazonaws.com"
    }
  }
  # The provider validates ARN arguments even against the mock: give every
  # referenced ARN a well-formed value.
  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:ap-northeast-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    }
  }
  mock_resource "aws_msk_configuration" {
    defaults = {
      arn = "arn:aws:kafka:ap-northeast-1:123456789012:configuration/quantcore-prod-kafka/1111"
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:quantcore-prod/secret-AbCdEf"
    }
  }
  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::quantcore-prod-bucket-123456789012-ap-northeast-1"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/quantcore-prod-grpc/1234"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/quantcore-prod-role"
    }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = {
      arn = "arn:aws:ecs:ap-northeast-1:123456789012:cluster/quantcore-prod"
    }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/quantcore-prod-task:1"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:ap-northeast-1:123456789012:log-group:/quantcore/quantcore-prod/x"
    }
  }
  mock_resource "aws_emrserverless_application" {
    defaults = {
      arn = "arn:aws:emr-serverless:ap-northeast-1:123456789012:/applications/00abc"
    }
  }
}

run "defaults" {
  command = apply

  # --- MSK: TLS in transit, SCRAM + IAM, KMS at rest -----------------------------
  assert {
    condition     = module.kafka.bootstrap_brokers_sasl_scram == output.kafka_bootstrap_brokers_sasl_scram
    error_message = "the root must export the SCRAM bootstrap brokers"
  }
  assert {
    condition = alltrue([
      for s in module.kafka.bootstrap_brokers_sasl_scram == "" ? [] : split(",", module.kafka.bootstrap_brokers_sasl_scram) : endswith(s, ":9096")
    ])
    error_message = "QUANTCORE_KAFKA_BOOTSTRAP must be the SASL/SCRAM brokers (9096)"
  }
  assert {
    condition     = output.quantcore_env["QUANTCORE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" && output.quantcore_env["QUANTCORE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    error_message = "clients must use SASL_SSL with SCRAM-SHA-512"
  }

  # --- the platform settings ------------------------------------------------------
  assert {
    condition     = output.quantcore_env["QUANTCORE_REDIS_URL"] == "rediss://master.quantcore-prod.abc.use1.cache.amazonaws.com:6379/0"
    error_message = "QUANTCORE_REDIS_URL must be rediss://<primary>:6379/0"
  }
  assert {
    condition     = length(split(",", output.quantcore_env["QUANTCORE_SYMBOLS"])) == 30 && output.quantcore_env["QUANTCORE_SHARDS"] == "3"
    error_message = "default universe is 30 symbols over 3 shards"
  }
  assert {
    condition     = startswith(output.quantcore_env["QUANTCORE_DATA_ROOT"], "s3://") && endswith(output.quantcore_env["QUANTCORE_DATA_ROOT"], "/delta")
    error_message = "QUANTCORE_DATA_ROOT must be s3://<bucket>/delta"
  }
  assert {
    condition     = startswith(output.quantcore_env["QUANTCORE_CHECKPOINT_ROOT"], "s3://") && endswith(output.quantcore_env["QUANTCORE_CHECKPOINT_ROOT"], "/checkpoints")
    error_message = "QUANTCORE_CHECKPOINT_ROOT must be s3://<bucket>/checkpoints"
  }
  assert {
    condition     = output.container_env["QUANTCORE_GRPC_HOST"] == "0.0.0.0" && output.quantcore_env["QUANTCORE_GRPC_HOST"] == "quantcore-prod-grpc-123.elb.ap-northeast-1.amazonaws.com"
    error_message = "containers bind 0.0.0.0; the local env points at the NLB"
  }
  assert {
    condition     = output.grpc_endpoint == "quantcore-prod-grpc-123.elb.ap-northeast-1.amazonaws.com:50051"
    error_message = "gRPC endpoint must be the NLB on 50051"
  }
  assert {
    condition     = toset(keys(output.quantcore_secret_arns)) == toset(["QUANTCORE_KAFKA_SASL_PASSWORD", "QUANTCORE_REDIS_PASSWORD", "QUANTCORE_GRPC_TOKEN"])
    error_message = "quantcore_secret_arns must name the three secret settings"
  }
  assert {
    condition     = length(setintersection(toset(keys(output.quantcore_env)), toset(keys(output.quantcore_secret_arns)))) == 0
    error_message = "a secret setting must never appear in quantcore_env"
  }

  # --- ingest: one service per shard with its own shard id ---------------------------
  assert {
    condition     = length(output.ingest_services) == 3
    error_message = "one ingest service per shard"
  }
  assert {
    condition = alltrue([
      for i in range(3) : output.ingest_commands[i] == ["quantcore", "stream", "ingest", "--shard-id", tostring(i), "--shards", "3"]
    ])
    error_message = "shard i must run `quantcore stream ingest --shard-id i --shards 3`"
  }
}

run "tls_listener_and_more_shards" {
  command = apply

  variables {
    shard_count          = 5
    grpc_certificate_arn = "arn:aws:acm:ap-northeast-1:123456789012:certificate/abc"
    grpc_allowed_cidrs   = ["203.0.113.0/24"]
  }

  assert {
    condition     = length(output.ingest_services) == 5 && output.quantcore_env["QUANTCORE_SHARDS"] == "5"
    error_message = "shard_count drives the number of ingest services and QUANTCORE_SHARDS"
  }
  assert {
    condition     = output.grpc_tls
    error_message = "a certificate ARN switches the listener to TLS"
  }
}

run "public_grpc_needs_opt_in" {
  command = plan

  variables {
    grpc_allowed_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.grpc_allowed_cidrs]
}

run "brokers_must_fill_the_azs" {
  command = plan

  variables {
    kafka_broker_count = 3
  }

  expect_failures = [var.kafka_broker_count]
}

run "no_more_shards_than_symbols" {
  command = plan

  variables {
    symbols     = ["BTCUSDT", "ETHUSDT"]
    shard_count = 3
  }

  expect_failures = [var.shard_count]
}

run "zones_must_be_in_the_region" {
  command = plan

  variables {
    availability_zones = ["us-east-1a", "us-east-1b"]
  }

  expect_failures = [var.availability_zones]
}

run "redis_always_has_a_replica" {
  command = plan

  variables {
    redis_num_cache_clusters = 1
  }

  expect_failures = [var.redis_num_cache_clusters]
}
