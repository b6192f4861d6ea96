variable "name_prefix" {
  description = "Prefix of every resource name (project-environment)."
  type        = string
}

variable "release_label" {
  description = "EMR release of the application (sets the Spark version)."
  type        = string
}

variable "architecture" {
  description = "X86_64 or ARM64 (ARM64 is ~20% cheaper; a custom image must match)."
  type        = string
  default     = "X86_64"
}

variable "image_uri" {
  description = "Optional custom image (EMR Serverless base + the platform package); null = the stock image."
  type        = string
  default     = null
}

variable "max_cpu" {
  description = "Cap on the vCPUs of all running workers, e.g. \"16 vCPU\"."
  type        = string
}

variable "max_memory" {
  description = "Cap on the memory of all running workers, e.g. \"64 GB\"."
  type        = string
}

variable "max_disk" {
  description = "Cap on the disk of all running workers, e.g. \"200 GB\"."
  type        = string
  default     = "200 GB"
}

variable "idle_timeout_minutes" {
  description = "Minutes without jobs before the application stops."
  type        = number
  default     = 15
}

variable "subnet_ids" {
  description = "Private subnets of the workers."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the workers (compute)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the job log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the job log group."
  type        = number
  default     = 365
}
