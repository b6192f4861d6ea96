variable "name" {
  description = "Container name (also the ECS Exec and load balancer container name)."
  type        = string
}

variable "image" {
  description = "Container image."
  type        = string
}

variable "command" {
  description = "Container command; null = the image's default (or whatever overrides it at run time)."
  type        = list(string)
  default     = null
}

variable "environment" {
  description = "Non-secret environment variables; AWS_REGION and AWS_DEFAULT_REGION are added."
  type        = map(string)
}

variable "secrets" {
  description = "Env var name -> Secrets Manager valueFrom, injected by the ECS agent."
  type        = map(string)
}

variable "ports" {
  description = "TCP container ports; null = no portMappings key at all."
  type        = list(number)
  default     = null
}

variable "read_only_root_filesystem" {
  description = "Read-only root filesystem (writable paths come from `mounts`)."
  type        = bool
  default     = true
}

variable "mounts" {
  description = "Writable task volumes, in order: volume name and the path it is mounted at."
  type        = list(object({ volume = string, path = string }))
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL; null = the ECS default."
  type        = number
  default     = null
}

variable "region" {
  description = "AWS region (AWS_REGION, AWS_DEFAULT_REGION and the awslogs region)."
  type        = string
}

variable "log_group" {
  description = "CloudWatch log group of the container."
  type        = string
}

variable "log_stream_prefix" {
  description = "awslogs stream prefix."
  type        = string
}
