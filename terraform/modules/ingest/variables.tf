variable "name_prefix" {
  description = "Prefix of every resource name (project-environment)."
  type        = string
}

variable "shard_count" {
  description = "Number of ingest shards M (one ECS service and task per shard)."
  type        = number
}

variable "image" {
  description = "Platform container image."
  type        = string
}

variable "cpu_architecture" {
  description = "Fargate CPU architecture of the image: X86_64 or ARM64."
  type        = string
  default     = "X86_64"
}

variable "cpu" {
  description = "Fargate CPU units per shard."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Fargate memory (MiB) per shard."
  type        = number
  default     = 1024
}

variable "environment" {
  description = "Non-secret QUANTCORE_* variables."
  type        = map(string)
}

variable "secrets" {
  description = "Env var name -> Secrets Manager valueFrom (the Kafka SCRAM password)."
  type        = map(string)
}

variable "state_dir" {
  description = "Writable directory for QUANTCORE_HOME (the root filesystem is read-only)."
  type        = string
  default     = "/var/lib/quantcore"
}

variable "cluster_arn" {
  description = "ECS cluster of the services."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (egress to the exchange through NAT)."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the shards (ingest)."
  type        = string
}

variable "execution_role_arn" {
  description = "ECS execution role (image pull, Kafka secret)."
  type        = string
}

variable "task_role_arn" {
  description = "Task role (MSK IAM write to the book and dead-letter topics)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the ingest log group."
  type        = number
  default     = 365
}
