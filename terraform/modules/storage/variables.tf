variable "name_prefix" {
  description = "Prefix of every resource name (project-environment)."
  type        = string
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets and the ECR repository (dev stacks only)."
  type        = bool
  default     = false
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the KMS key is deleted after destroy."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Days the access-log bucket keeps S3, VPC flow and NLB logs."
  type        = number
  default     = 365
}

variable "noncurrent_version_days" {
  description = "Days a noncurrent object version is kept in the data, checkpoint and artifact buckets."
  type        = number
  default     = 30
}

variable "ecr_keep_images" {
  description = "How many platform images ECR keeps."
  type        = number
  default     = 30
}
