variable "name_prefix" {
  description = "Prefix of every resource name (project-environment)."
  type        = string
}

variable "image" {
  description = "Platform container image (quantcore CLI + Dagster + dagster-postgres)."
  type        = string
}

variable "cpu_architecture" {
  description = "Fargate CPU architecture of the image: X86_64 or ARM64."
  type        = string
  default     = "X86_64"
}

variable "environment" {
  description = "Non-secret QUANTCORE_* variables shared by every platform container."
  type        = map(string)
}

variable "worker_secrets" {
  description = "Secrets of the daemon and run tasks: env var name -> Secrets Manager valueFrom."
  type        = map(string)
}

variable "workspace_file" {
  description = "Path of workspace.yaml inside the image."
  type        = string
  default     = "/app/workspace.yaml"
}

variable "webserver_port" {
  description = "Port of the Dagster webserver."
  type        = number
  default     = 3000
}

variable "subnet_ids" {
  description = "Private subnets of the Dagster tasks and the database."
  type        = list(string)
}

variable "web_security_group_id" {
  description = "Security group of the webserver."
  type        = string
}

variable "worker_security_group_id" {
  description = "Security group of the daemon and of the runs it launches."
  type        = string
}

variable "rds_security_group_id" {
  description = "Security group of the database."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the database, its secret, ECS Exec and the log groups."
  type        = string
}

variable "artifacts_bucket_name" {
  description = "Bucket receiving Dagster compute logs."
  type        = string
}

variable "web_execution_role_arn" {
  description = "ECS execution role of the webserver (pulls the image, reads the DB secret)."
  type        = string
}

variable "worker_execution_role_arn" {
  description = "ECS execution role of the daemon and run tasks (pulls the image, reads their secrets)."
  type        = string
}

variable "web_task_role_arn" {
  description = "Task role of the webserver."
  type        = string
}

variable "daemon_task_role_arn" {
  description = "Task role of the daemon (launches runs as ECS tasks)."
  type        = string
}

variable "run_task_role_arn" {
  description = "Task role of the run tasks (submit EMR jobs, restart services)."
  type        = string
}

variable "webserver_cpu" {
  description = "Fargate CPU units of the webserver."
  type        = number
  default     = 512
}

variable "webserver_memory" {
  description = "Fargate memory (MiB) of the webserver."
  type        = number
  default     = 1024
}

variable "daemon_cpu" {
  description = "Fargate CPU units of the daemon."
  type        = number
  default     = 512
}

variable "daemon_memory" {
  description = "Fargate memory (MiB) of the daemon."
  type        = number
  default     = 1024
}

variable "run_cpu" {
  description = "Fargate CPU units of each run task."
  type        = number
  default     = 512
}

variable "run_memory" {
  description = "Fargate memory (MiB) of each run task."
  type        = number
  default     = 1024
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_engine_version" {
  description = "PostgreSQL version (major or major.minor)."
  type        = string
  default     = "16"
}

variable "db_allocated_storage" {
  description = "Initial storage, GiB (autoscaling up to 5x)."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "Standby replica in a second AZ."
  type        = bool
  default     = false
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (turn off before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "db_performance_insights" {
  description = "Enable Performance Insights (not on every micro class)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the Dagster and ECS Exec log groups."
  type        = number
  default     = 365
}
