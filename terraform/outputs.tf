# Every endpoint of the deployment, plus `quantcore_env` / `quantcore_secret_arns`
# to point a local `quantcore` at it (see README.md). No output holds a secret value.

# --- what a local quantcore needs ------------------------------------------------------
output "quantcore_env" {
  description = "Non-secret QUANTCORE_* settings of the deployment. QUANTCORE_GRPC_HOST is the NLB here (containers bind 0.0.0.0)."
  value = merge(local.platform_env, {
    QUANTCORE_GRPC_HOST = module.serving.nlb_dns_name
  })
}

output "quantcore_secret_arns" {
  description = "Secrets Manager ARN per secret setting (QUANTCORE_KAFKA_SASL_PASSWORD, QUANTCORE_REDIS_PASSWORD, QUANTCORE_GRPC_TOKEN)."
  value       = local.secret_arns
}

output "container_env" {
  description = "Non-secret QUANTCORE_* settings exactly as the ECS containers receive them."
  value       = local.platform_env
}

# --- endpoints -------------------------------------------------------------------------
output "grpc_endpoint" {
  description = "host:port of the gRPC API (NLB)."
  value       = "${module.serving.nlb_dns_name}:${local.grpc_port}"
}

output "grpc_nlb_arn" {
  description = "ARN of the gRPC Network Load Balancer."
  value       = module.serving.nlb_arn
}

output "grpc_tls" {
  description = "Whether the gRPC listener terminates TLS (grpc_certificate_arn set)."
  value       = module.serving.grpc_tls
}

output "kafka_bootstrap_brokers_sasl_scram" {
  description = "MSK bootstrap brokers, SASL/SCRAM over TLS (9096)."
  value       = module.kafka.bootstrap_brokers_sasl_scram
}

output "kafka_bootstrap_brokers_sasl_iam" {
  description = "MSK bootstrap brokers, IAM over TLS (9098)."
  value       = module.kafka.bootstrap_brokers_sasl_iam
}

output "kafka_cluster_arn" {
  description = "ARN of the MSK cluster."
  value       = module.kafka.cluster_arn
}

output "kafka_cluster_name" {
  description = "Name of the MSK cluster."
  value       = module.kafka.cluster_name
}

output "kafka_scram_secret_arn" {
  description = "ARN of the AmazonMSK_ SCRAM secret (JSON username/password) associated with the cluster."
  value       = module.kafka.scram_secret_arn
}

output "redis_url" {
  description = "QUANTCORE_REDIS_URL (rediss://primary:6379/0)."
  value       = local.platform_env.QUANTCORE_REDIS_URL
}

output "redis_primary_endpoint" {
  description = "ElastiCache primary endpoint."
  value       = module.redis.primary_endpoint
}

output "redis_reader_endpoint" {
  description = "ElastiCache reader endpoint."
  value       = module.redis.reader_endpoint
}

output "redis_replication_group_id" {
  description = "ElastiCache replication group ID."
  value       = module.redis.replication_group_id
}

output "data_root" {
  description = "QUANTCORE_DATA_ROOT: Delta tables."
  value       = local.platform_env.QUANTCORE_DATA_ROOT
}

output "checkpoint_root" {
  description = "QUANTCORE_CHECKPOINT_ROOT: Spark checkpoints."
  value       = local.platform_env.QUANTCORE_CHECKPOINT_ROOT
}

output "buckets" {
  description = "S3 buckets: data, checkpoints, artifacts, logs."
  value = {
    data        = module.storage.data_bucket_name
    checkpoints = module.storage.checkpoint_bucket_name
    artifacts   = module.storage.artifacts_bucket_name
    logs        = module.storage.logs_bucket_name
  }
}

output "ecr_repository_url" {
  description = "Push the platform image here (tag = image_tag)."
  value       = module.storage.ecr_repository_url
}

output "image" {
  description = "Image every ECS task runs."
  value       = local.image
}

output "kms_key_arn" {
  description = "The platform's KMS key."
  value       = module.storage.kms_key_arn
}

# --- Spark ----------------------------------------------------------------------------
output "emr_application_id" {
  description = "EMR Serverless application ID (StartJobRun applicationId)."
  value       = module.spark.application_id
}

output "emr_application_arn" {
  description = "EMR Serverless application ARN."
  value       = module.spark.application_arn
}

output "emr_job_role_arn" {
  description = "EMR Serverless job runtime role (StartJobRun executionRoleArn)."
  value       = module.iam.emr_job_role_arn
}

output "emr_job_configuration" {
  description = "StartJobRun configurationOverrides (JSON): QUANTCORE_* for driver and executors, secrets as EMR.secret@ references, logs."
  value       = jsonencode(local.emr_job_configuration)
}

output "emr_log_group" {
  description = "CloudWatch log group of the Spark jobs."
  value       = module.spark.log_group_name
}

# --- Dagster --------------------------------------------------------------------------
output "ecs_cluster_name" {
  description = "ECS cluster of every platform task."
  value       = module.orchestration.cluster_name
}

output "ecs_cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = module.orchestration.cluster_arn
}

output "dagster_webserver_service" {
  description = "ECS service of the Dagster webserver (reach the UI with ECS Exec port forwarding)."
  value       = module.orchestration.webserver_service_name
}

output "dagster_daemon_service" {
  description = "ECS service of the Dagster daemon."
  value       = module.orchestration.daemon_service_name
}

output "dagster_run_task_definition" {
  description = "Task definition the EcsRunLauncher starts per run (DAGSTER_RUN_TASK_DEFINITION)."
  value       = module.orchestration.run_task_definition_arn
}

output "dagster_postgres" {
  description = "Dagster storage: DAGSTER_PG_HOST/PORT/DB/USER (password: dagster_postgres_secret_arn, key `password`)."
  value = {
    DAGSTER_PG_HOST = module.orchestration.db_address
    DAGSTER_PG_PORT = tostring(module.orchestration.db_port)
    DAGSTER_PG_DB   = module.orchestration.db_name
    DAGSTER_PG_USER = module.orchestration.db_username
  }
}

output "dagster_postgres_secret_arn" {
  description = "RDS-managed secret of the Dagster database (JSON key `password`)."
  value       = module.orchestration.db_secret_arn
}

output "ingest_services" {
  description = "ECS service per ingest shard (index = shard id)."
  value       = module.ingest.service_names
}

output "ingest_commands" {
  description = "Command each ingest shard runs (index = shard id)."
  value       = module.ingest.commands
}

output "serve_service" {
  description = "ECS service of the gRPC servers."
  value       = module.serving.service_name
}

output "log_groups" {
  description = "CloudWatch log group per component."
  value = {
    ingest  = module.ingest.log_group_name
    serve   = module.serving.log_group_name
    dagster = module.orchestration.log_group_name
    spark   = module.spark.log_group_name
    kafka   = module.kafka.log_group_name
  }
}

# --- network and IAM ------------------------------------------------------------------
output "vpc_id" {
  description = "ID of the VPC."
  value       = module.network.vpc_id
}

output "vpc_cidr" {
  description = "CIDR of the VPC."
  value       = module.network.vpc_cidr
}

output "private_subnet_ids" {
  description = "Private subnets."
  value       = module.network.private_subnet_ids
}

output "public_subnet_ids" {
  description = "Public subnets."
  value       = module.network.public_subnet_ids
}

output "nat_public_ips" {
  description = "Egress IPs seen by the exchange."
  value       = module.network.nat_public_ips
}

output "security_group_ids" {
  description = "Security group per hop."
  value       = module.network.security_group_ids
}

output "iam_roles" {
  description = "IAM role ARNs: ECS execution roles, ECS task roles, the EMR job role."
  value = {
    execution = module.iam.execution_role_arns
    task      = module.iam.task_role_arns
    emr_job   = module.iam.emr_job_role_arn
  }
}
