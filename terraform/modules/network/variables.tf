variable "name_prefix" {
  description = "Prefix of every resource name (project-environment)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (a /16 is split into /24 public and /20 private subnets)."
  type        = string
}

variable "availability_zones" {
  description = "Zones of the subnets (2 or 3; MSK brokers must be a multiple of their number)."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper) instead of one per AZ (zone-redundant egress)."
  type        = bool
  default     = true
}

variable "flow_log_bucket_arn" {
  description = "ARN of the S3 bucket receiving VPC flow logs."
  type        = string
}

variable "grpc_port" {
  description = "Port of the gRPC servers and the NLB listener."
  type        = number
  default     = 50051
}

variable "grpc_allowed_cidrs" {
  description = "Extra CIDRs (besides the VPC) allowed to reach the NLB's gRPC listener."
  type        = list(string)
  default     = []
}

variable "exchange_ws_port" {
  description = "TCP port of the exchange's WebSocket endpoint (Binance: 9443)."
  type        = number
  default     = 9443
}
