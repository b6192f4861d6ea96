variable "name_prefix" {
  description = "Prefix of every resource name (project-environment)."
  type        = string
}

variable "kms_key_arn" {
  description = "The platform's KMS key (secrets, S3 objects, image layers)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ECR repository of the platform image."
  type        = string
}

variable "kafka_cluster_arn" {
  description = "MSK cluster ARN (topic and group ARNs are derived from it)."
  type        = string
}

variable "book_topic" {
  description = "Kafka topic of the book records."
  type        = string
}

variable "trade_topic" {
  description = "Kafka topic of the trade records."
  type        = string
}

variable "dead_letter_topic" {
  description = "Kafka dead-letter topic."
  type        = string
}

variable "data_bucket_arn" {
  description = "Delta table bucket."
  type        = string
}

variable "checkpoint_bucket_arn" {
  description = "Spark checkpoint bucket."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "Artifacts bucket (job code, EMR logs, Dagster compute logs)."
  type        = string
}

variable "compute_log_prefix" {
  description = "Key prefix of the Dagster compute logs in the artifacts bucket."
  type        = string
  default     = "dagster/compute-logs"
}

variable "job_code_prefix" {
  description = "Key prefix of the Spark job code in the artifacts bucket."
  type        = string
  default     = "jobs"
}

variable "emr_log_prefix" {
  description = "Key prefix of the EMR Serverless job logs in the artifacts bucket."
  type        = string
  default     = "emr-logs"
}

variable "ecs_cluster_arn" {
  description = "ECS cluster ARN."
  type        = string
}

variable "ecs_cluster_name" {
  description = "ECS cluster name (task and service ARNs are derived from it)."
  type        = string
}

variable "managed_service_names" {
  description = "ECS services Dagster may watch and restart (ingest shards, serve)."
  type        = list(string)
}

variable "run_task_definition_family" {
  description = "Family of the Dagster run task definition (the only one the daemon may run)."
  type        = string
}

variable "emr_application_arn" {
  description = "EMR Serverless application ARN."
  type        = string
}

variable "emr_log_group_arn" {
  description = "CloudWatch log group of the EMR jobs."
  type        = string
}

variable "ingest_log_group_arn" {
  description = "Log group of the ingest shards."
  type        = string
}

variable "serve_log_group_arn" {
  description = "Log group of the gRPC servers."
  type        = string
}

variable "dagster_log_group_arn" {
  description = "Log group of the Dagster containers and runs."
  type        = string
}

variable "ecs_exec_log_group_arn" {
  description = "Log group of ECS Exec sessions."
  type        = string
}

variable "ingest_secret_arns" {
  description = "Secrets the ingest shards receive."
  type        = list(string)
}

variable "serve_secret_arns" {
  description = "Secrets the gRPC servers receive."
  type        = list(string)
}

variable "dagster_web_secret_arns" {
  description = "Secrets the Dagster webserver receives."
  type        = list(string)
}

variable "dagster_worker_secret_arns" {
  description = "Secrets the Dagster daemon and runs receive."
  type        = list(string)
}

variable "emr_secret_arns" {
  description = "Secrets the Spark jobs may read."
  type        = list(string)
}
