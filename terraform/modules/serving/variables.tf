variable "name_prefix" {
  description = "Prefix of every resource name (project-environment)."
  type        = string
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

variable "desired_count" {
  description = "Number of gRPC server tasks."
  type        = number
}

variable "cpu" {
  description = "Fargate CPU units per server."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Fargate memory (MiB) per server."
  type        = number
  default     = 1024
}

variable "grpc_port" {
  description = "Port of the servers and of the NLB listener."
  type        = number
  default     = 50051
}

variable "environment" {
  description = "Non-secret QUANTCORE_* variables."
  type        = map(string)
}

variable "secrets" {
  description = "Env var name -> Secrets Manager valueFrom (Redis AUTH token); the gRPC token is added here."
  type        = map(string)
}

variable "state_dir" {
  description = "Writable directory for QUANTCORE_HOME (the root filesystem is read-only)."
  type        = string
  default     = "/var/lib/quantcore"
}

variable "bearer_rotation" {
  description = "Bump to generate and write a new gRPC bearer token."
  type        = number
  default     = 1
}

variable "recovery_window_days" {
  description = "Days a deleted secret can be restored (0 = delete at once, dev only)."
  type        = number
  default     = 7
}

variable "internal" {
  description = "Internal NLB (private subnets) rather than internet-facing."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse to delete the NLB (turn off before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "certificate_arn" {
  description = "ACM certificate for a TLS listener; null = plain TCP listener."
  type        = string
  default     = null
}

variable "tcp_idle_timeout_seconds" {
  description = "NLB idle timeout of the long-lived Subscribe streams (60-6000)."
  type        = number
  default     = 3600
}

variable "access_log_bucket" {
  description = "Bucket (SSE-S3) receiving the NLB access logs."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the target group."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the NLB (private when internal, public otherwise)."
  type        = list(string)
}

variable "service_subnet_ids" {
  description = "Private subnets of the server tasks."
  type        = list(string)
}

variable "nlb_security_group_id" {
  description = "Security group of the NLB."
  type        = string
}

variable "service_security_group_id" {
  description = "Security group of the server tasks (serve)."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster of the service."
  type        = string
}

variable "execution_role_arn" {
  description = "ECS execution role (image pull, Redis and gRPC token secrets)."
  type        = string
}

variable "task_role_arn" {
  description = "Task role of the servers."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the token secret and the log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the serve log group."
  type        = number
  default     = 365
}
