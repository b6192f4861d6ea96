# QuantCore Platform on AWS: the same streams as `quantcore up`, on managed services.
#
#   Binance WS --NAT--> ingest shards (ECS, one task per shard) --SCRAM/TLS--> MSK
#   MSK --> EMR Serverless Spark (compute stream, replays) --> ElastiCache Redis (TLS+AUTH)
#                                                          --> S3 Delta tables
#   Redis --> gRPC servers (ECS) <-- NLB :50051 <-- clients
#   Dagster (ECS: webserver, daemon, EcsRunLauncher run tasks) on RDS PostgreSQL
#
# Every box is a module under modules/; this file only wires them.

locals {
  name_prefix = "${var.project}-${var.environment}"
  image       = coalesce(var.image, "${module.storage.ecr_repository_url}:${var.image_tag}")
  grpc_port   = 50051

  # The platform's non-secret settings, as every container receives them.
  platform_env = {
    QUANTCORE_SOURCE  = "binance"
    QUANTCORE_SYMBOLS = join(",", var.symbols)
    QUANTCORE_SHARDS  = tostring(var.shard_count)
    # A/B ingest arbitrates with lock files on one host; each ECS task has its own, so twins
    # there would both publish. One reader per group until a distributed lease exists.
    QUANTCORE_INGEST_TWIN             = "false"
    QUANTCORE_PARTITIONS              = tostring(var.partitions)
    QUANTCORE_BOOK_TOPIC              = var.book_topic
    QUANTCORE_TRADE_TOPIC             = var.trade_topic
    QUANTCORE_DEAD_LETTER_TOPIC       = var.dead_letter_topic
    QUANTCORE_KAFKA_BOOTSTRAP         = module.kafka.bootstrap_brokers_sasl_scram
    QUANTCORE_KAFKA_SECURITY_PROTOCOL = "SASL_SSL"
    QUANTCORE_KAFKA_SASL_MECHANISM    = "SCRAM-SHA-512"
    QUANTCORE_KAFKA_SASL_USERNAME     = module.kafka.sasl_username
    QUANTCORE_REDIS_URL               = "rediss://${module.redis.primary_endpoint}:${module.redis.port}/0"
    QUANTCORE_SPARK_MASTER            = var.spark_master
    QUANTCORE_DATA_ROOT               = "s3://${module.storage.data_bucket_name}/delta"
    QUANTCORE_CHECKPOINT_ROOT         = "s3://${module.storage.checkpoint_bucket_name}/checkpoints"
    QUANTCORE_GRPC_HOST               = "0.0.0.0"
    QUANTCORE_GRPC_PORT               = tostring(local.grpc_port)
    QUANTCORE_LOG_LEVEL               = var.log_level
  }

  # Secrets by the env var that carries them (ECS `secrets`, valueFrom = ARN).
  kafka_secret = { QUANTCORE_KAFKA_SASL_PASSWORD = module.kafka.sasl_password_secret_arn }
  redis_secret = { QUANTCORE_REDIS_PASSWORD = module.redis.auth_token_secret_arn }
  grpc_secret  = { QUANTCORE_GRPC_TOKEN = module.serving.grpc_token_secret_arn }
  secret_arns  = merge(local.kafka_secret, local.redis_secret, local.grpc_secret)

  # What a Spark job on EMR Serverless needs: the same settings minus the Spark master
  # (EMR sets it), the secrets resolved by EMR from Secrets Manager (EMR.secret@name).
  emr_env = { for k, v in local.platform_env : k => v if k != "QUANTCORE_SPARK_MASTER" }
  emr_secret_names = {
    QUANTCORE_KAFKA_SASL_PASSWORD = module.kafka.sasl_password_secret_name
    QUANTCORE_REDIS_PASSWORD      = module.redis.auth_token_secret_name
  }
  emr_job_configuration = {
    applicationConfiguration = [{
      classification = "spark-defaults"
      properties = merge(
        { for k, v in local.emr_env : "spark.emr-serverless.driverEnv.${k}" => v },
        { for k, v in local.emr_env : "spark.executorEnv.${k}" => v },
        { for k, name in local.emr_secret_names : "spark.emr-serverless.driverEnv.${k}" => "EMR.secret@${name}" },
        { for k, name in local.emr_secret_names : "spark.executorEnv.${k}" => "EMR.secret@${name}" },
      )
    }]
    monitoringConfiguration = {
      s3MonitoringConfiguration = {
        logUri           = "s3://${module.storage.artifacts_bucket_name}/emr-logs/"
        encryptionKeyArn = module.storage.kms_key_arn
      }
      cloudWatchLoggingConfiguration = {
        enabled          = true
        logGroupName     = module.spark.log_group_name
        encryptionKeyArn = module.storage.kms_key_arn
      }
    }
  }

  # Dagster (daemon and runs) also needs to know where to submit Spark jobs.
  dagster_env = merge(local.platform_env, {
    QUANTCORE_SPARK_LAUNCHER         = "emr" # quantcore_platform/spark_launch: replays run as EMR job runs
    QUANTCORE_EMR_APPLICATION_ID     = module.spark.application_id
    QUANTCORE_EMR_EXECUTION_ROLE_ARN = module.iam.emr_job_role_arn
    QUANTCORE_EMR_RELEASE_LABEL      = module.spark.release_label
    QUANTCORE_EMR_JOB_CODE_URI       = "s3://${module.storage.artifacts_bucket_name}/jobs/"
    QUANTCORE_EMR_JOB_CONFIGURATION  = jsonencode(local.emr_job_configuration)
    QUANTCORE_ECS_CLUSTER            = module.orchestration.cluster_name
    QUANTCORE_INGEST_SERVICES        = join(",", module.ingest.service_names)
    QUANTCORE_SERVE_SERVICE          = module.serving.service_name
  })

  # ECS service names Dagster may watch and restart (known before the services exist).
  managed_service_names = concat(
    [for i in range(var.shard_count) : "${local.name_prefix}-ingest-${i}"],
    ["${local.name_prefix}-serve"],
  )
}

module "storage" {
  source             = "./modules/storage"
  name_prefix        = local.name_prefix
  force_destroy      = var.force_destroy
  log_retention_days = var.log_retention_days
}

module "network" {
  source              = "./modules/network"
  name_prefix         = local.name_prefix
  vpc_cidr            = var.vpc_cidr
  availability_zones  = var.availability_zones
  single_nat_gateway  = var.single_nat_gateway
  flow_log_bucket_arn = module.storage.logs_bucket_arn
  grpc_port           = local.grpc_port
  grpc_allowed_cidrs  = var.grpc_allowed_cidrs
}

module "kafka" {
  source               = "./modules/kafka"
  name_prefix          = local.name_prefix
  kafka_version        = var.kafka_version
  instance_type        = var.kafka_instance_type
  broker_count         = var.kafka_broker_count
  ebs_volume_gb        = var.kafka_ebs_volume_gb
  subnet_ids           = module.network.private_subnet_ids
  security_group_id    = module.network.security_group_ids["kafka"]
  kms_key_arn          = module.storage.kms_key_arn
  partitions           = var.partitions
  replication_factor   = min(var.kafka_broker_count, 3)
  min_insync_replicas  = var.kafka_broker_count >= 3 ? 2 : 1
  retention_hours      = var.kafka_retention_hours
  sasl_username        = var.kafka_sasl_username
  scram_rotation       = var.kafka_scram_rotation
  recovery_window_days = var.recovery_window_days
  log_retention_days   = var.log_retention_days
}

module "redis" {
  source               = "./modules/redis"
  name_prefix          = local.name_prefix
  node_type            = var.redis_node_type
  num_cache_clusters   = var.redis_num_cache_clusters
  subnet_ids           = module.network.private_subnet_ids
  security_group_id    = module.network.security_group_ids["redis"]
  kms_key_arn          = module.storage.kms_key_arn
  recovery_window_days = var.recovery_window_days
  log_retention_days   = var.log_retention_days
}

module "spark" {
  source             = "./modules/spark"
  name_prefix        = local.name_prefix
  release_label      = var.emr_release_label
  architecture       = var.cpu_architecture
  image_uri          = var.emr_image_uri
  max_cpu            = var.emr_max_cpu
  max_memory         = var.emr_max_memory
  subnet_ids         = module.network.private_subnet_ids
  security_group_id  = module.network.security_group_ids["compute"]
  kms_key_arn        = module.storage.kms_key_arn
  log_retention_days = var.log_retention_days
}

module "orchestration" {
  source                    = "./modules/orchestration"
  name_prefix               = local.name_prefix
  image                     = local.image
  cpu_architecture          = var.cpu_architecture
  environment               = local.dagster_env
  worker_secrets            = local.secret_arns
  subnet_ids                = module.network.private_subnet_ids
  web_security_group_id     = module.network.security_group_ids["dagster_web"]
  worker_security_group_id  = module.network.security_group_ids["dagster_worker"]
  rds_security_group_id     = module.network.security_group_ids["rds"]
  kms_key_arn               = module.storage.kms_key_arn
  artifacts_bucket_name     = module.storage.artifacts_bucket_name
  web_execution_role_arn    = module.iam.execution_role_arns["dagster_web"]
  worker_execution_role_arn = module.iam.execution_role_arns["dagster_worker"]
  web_task_role_arn         = module.iam.task_role_arns["dagster_web"]
  daemon_task_role_arn      = module.iam.task_role_arns["dagster_daemon"]
  run_task_role_arn         = module.iam.task_role_arns["dagster_run"]
  run_cpu                   = var.dagster_run_cpu
  run_memory                = var.dagster_run_memory
  db_instance_class         = var.db_instance_class
  db_allocated_storage      = var.db_allocated_storage
  db_multi_az               = var.db_multi_az
  db_deletion_protection    = var.deletion_protection
  log_retention_days        = var.log_retention_days
}

module "ingest" {
  source             = "./modules/ingest"
  name_prefix        = local.name_prefix
  shard_count        = var.shard_count
  image              = local.image
  cpu_architecture   = var.cpu_architecture
  cpu                = var.ingest_cpu
  memory             = var.ingest_memory
  environment        = local.platform_env
  secrets            = local.kafka_secret
  cluster_arn        = module.orchestration.cluster_arn
  subnet_ids         = module.network.private_subnet_ids
  security_group_id  = module.network.security_group_ids["ingest"]
  execution_role_arn = module.iam.execution_role_arns["ingest"]
  task_role_arn      = module.iam.task_role_arns["ingest"]
  kms_key_arn        = module.storage.kms_key_arn
  log_retention_days = var.log_retention_days
}

module "serving" {
  source                    = "./modules/serving"
  name_prefix               = local.name_prefix
  image                     = local.image
  cpu_architecture          = var.cpu_architecture
  desired_count             = var.serve_desired_count
  cpu                       = var.serve_cpu
  memory                    = var.serve_memory
  grpc_port                 = local.grpc_port
  environment               = local.platform_env
  secrets                   = local.redis_secret
  bearer_rotation           = var.grpc_bearer_rotation
  recovery_window_days      = var.recovery_window_days
  internal                  = var.nlb_internal
  deletion_protection       = var.deletion_protection
  certificate_arn           = var.grpc_certificate_arn
  access_log_bucket         = module.storage.logs_bucket_name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = var.nlb_internal ? module.network.private_subnet_ids : module.network.public_subnet_ids
  service_subnet_ids        = module.network.private_subnet_ids
  nlb_security_group_id     = module.network.security_group_ids["nlb"]
  service_security_group_id = module.network.security_group_ids["serve"]
  cluster_arn               = module.orchestration.cluster_arn
  execution_role_arn        = module.iam.execution_role_arns["serve"]
  task_role_arn             = module.iam.task_role_arns["serve"]
  kms_key_arn               = module.storage.kms_key_arn
  log_retention_days        = var.log_retention_days
}

module "iam" {
  source                     = "./modules/iam"
  name_prefix                = local.name_prefix
  kms_key_arn                = module.storage.kms_key_arn
  ecr_repository_arn         = module.storage.ecr_repository_arn
  kafka_cluster_arn          = module.kafka.cluster_arn
  book_topic                 = var.book_topic
  trade_topic                = var.trade_topic
  dead_letter_topic          = var.dead_letter_topic
  data_bucket_arn            = module.storage.data_bucket_arn
  checkpoint_bucket_arn      = module.storage.checkpoint_bucket_arn
  artifacts_bucket_arn       = module.storage.artifacts_bucket_arn
  ecs_cluster_arn            = module.orchestration.cluster_arn
  ecs_cluster_name           = module.orchestration.cluster_name
  managed_service_names      = local.managed_service_names
  run_task_definition_family = module.orchestration.run_task_definition_family
  emr_application_arn        = module.spark.application_arn
  emr_log_group_arn          = module.spark.log_group_arn
  ingest_log_group_arn       = module.ingest.log_group_arn
  serve_log_group_arn        = module.serving.log_group_arn
  dagster_log_group_arn      = module.orchestration.log_group_arn
  ecs_exec_log_group_arn     = module.orchestration.ecs_exec_log_group_arn
  ingest_secret_arns         = values(local.kafka_secret)
  serve_secret_arns          = values(merge(local.redis_secret, local.grpc_secret))
  dagster_web_secret_arns    = [module.orchestration.db_secret_arn]
  dagster_worker_secret_arns = concat([module.orchestration.db_secret_arn], values(local.secret_arns))
  emr_secret_arns            = values(merge(local.kafka_secret, local.redis_secret))
}
