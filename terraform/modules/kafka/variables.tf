variable "name_prefix" {
  description = "Prefix of every resource name (project-environment)."
  type        = string
}

variable "kafka_version" {
  description = "Apache Kafka version of the MSK cluster."
  type        = string
}

variable "instance_type" {
  description = "MSK broker instance type."
  type        = string
}

variable "broker_count" {
  description = "Number of brokers; a multiple of the number of subnets (AZs)."
  type        = number
}

variable "ebs_volume_gb" {
  description = "EBS storage per broker, GiB."
  type        = number
}

variable "subnet_ids" {
  description = "Private subnets, one per AZ, for the broker ENIs."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the brokers."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for data at rest, the SCRAM secrets and the broker log group."
  type        = string
}

variable "partitions" {
  description = "Default partition count of new topics (QUANTCORE_PARTITIONS)."
  type        = number
}

variable "replication_factor" {
  description = "Default replication factor of new topics (at most broker_count)."
  type        = number
  default     = 2
}

variable "min_insync_replicas" {
  description = "min.insync.replicas: acks=all producers need this many replicas in sync."
  type        = number
  default     = 1
}

variable "retention_hours" {
  description = "Topic retention; replays can rebuild Delta from Kafka within this window."
  type        = number
  default     = 72
}

variable "sasl_username" {
  description = "SCRAM username of the platform's Kafka clients (QUANTCORE_KAFKA_SASL_USERNAME)."
  type        = string
  default     = "quantcore"
}

variable "scram_rotation" {
  description = "Bump to generate and write a new SCRAM password (write-only secret version)."
  type        = number
  default     = 1
}

variable "recovery_window_days" {
  description = "Days a deleted secret can be restored (0 = delete at once, dev only)."
  type        = number
  default     = 7
}

variable "log_retention_days" {
  description = "Retention of the broker log group."
  type        = number
  default     = 365
}
