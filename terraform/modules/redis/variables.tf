variable "name_prefix" {
  description = "Prefix of every resource name (project-environment)."
  type        = string
}

variable "node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "num_cache_clusters" {
  description = "Nodes in the replication group (1 primary + N-1 replicas); at least 2 for Multi-AZ failover."
  type        = number
  validation {
    condition     = var.num_cache_clusters >= 2 && var.num_cache_clusters <= 6
    error_message = "num_cache_clusters must be 2-6: the replication group always runs with automatic Multi-AZ failover."
  }
}

variable "engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "subnet_ids" {
  description = "Private subnets of the cache nodes."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the cache nodes."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for data at rest, the AUTH token secret and the slow-log group."
  type        = string
}

variable "snapshot_retention_days" {
  description = "Days of automatic snapshots (the state is rebuildable from Kafka; 1 is enough)."
  type        = number
  default     = 1
}

variable "recovery_window_days" {
  description = "Days a deleted secret can be restored (0 = delete at once, dev only)."
  type        = number
  default     = 7
}

variable "log_retention_days" {
  description = "Retention of the slow-log group."
  type        = number
  default     = 365
}
