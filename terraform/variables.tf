# Root variables. Defaults give a small but complete deployment (see README.md for
# its monthly cost). No variable holds a secret: every secret is generated inside
# AWS Secrets Manager and handed to the services by ARN.

# --- identity and placement ---------------------------------------------------------
variable "project" {
  description = "Project name: first part of every resource name."
  type        = string
  default     = "quantcore"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.project))
    error_message = "project must be 2-15 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (prod, staging, dev): second part of every resource name."
  type        = string
  default     = "prod"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lowercase letters or digits, starting with a letter."
  }
}

variable "region" {
  description = "AWS region. Default Tokyo: Binance runs there, and it refuses clients from US IP addresses (HTTP 451), so us-east-1 cannot ingest from it."
  type        = string
  default     = "ap-northeast-1"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# --- network ---------------------------------------------------------------------
variable "vpc_cidr" {
  description = "CIDR of the VPC (a /16)."
  type        = string
  default     = "10.40.0.0/16"
  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be a valid /16 CIDR."
  }
}

variable "availability_zones" {
  description = "Zones of the subnets, in var.region: 2 or 3 (MSK brokers must be a multiple of their number). Pinned on purpose."
  type        = list(string)
  default     = ["ap-northeast-1a", "ap-northeast-1c"]
  validation {
    condition     = contains([2, 3], length(var.availability_zones)) && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones must list 2 or 3 distinct zones (MSK client subnets)."
  }
  validation {
    condition     = alltrue([for z in var.availability_zones : startswith(z, var.region)])
    error_message = "every zone in availability_zones must belong to var.region."
  }
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (cheaper) instead of one per AZ."
  type        = bool
  default     = true
}

# --- the platform's own settings (QUANTCORE_*) -------------------------------------
variable "symbols" {
  description = "Symbol universe (QUANTCORE_SYMBOLS)."
  type        = list(string)
  default = [
    "BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "TRXUSDT", "AVAXUSDT", "LINKUSDT",
    "DOTUSDT", "MATICUSDT", "LTCUSDT", "BCHUSDT", "SHIBUSDT", "UNIUSDT", "ATOMUSDT", "XLMUSDT", "ETCUSDT", "FILUSDT",
    "APTUSDT", "ARBUSDT", "OPUSDT", "NEARUSDT", "ICPUSDT", "HBARUSDT", "VETUSDT", "INJUSDT", "SUIUSDT", "AAVEUSDT",
  ]
  validation {
    condition     = length(var.symbols) > 0 && alltrue([for s in var.symbols : can(regex("^[A-Z0-9]+$", s))]) && length(distinct(var.symbols)) == length(var.symbols)
    error_message = "symbols must be a non-empty list of distinct uppercase alphanumeric symbols."
  }
}

variable "shard_count" {
  description = "Ingest shards M (QUANTCORE_SHARDS): one ECS service/task per shard."
  type        = number
  default     = 3
  validation {
    condition     = var.shard_count >= 1 && var.shard_count <= 64 && var.shard_count <= length(var.symbols)
    error_message = "shard_count must be between 1 and 64 and at most the number of symbols."
  }
}

variable "partitions" {
  description = "Partitions of the book topic (QUANTCORE_PARTITIONS)."
  type        = number
  default     = 30
}

variable "book_topic" {
  description = "Kafka topic of the book records (QUANTCORE_BOOK_TOPIC)."
  type        = string
  default     = "qc.books.v1"
}

variable "trade_topic" {
  description = "Kafka topic of the trade records (QUANTCORE_TRADE_TOPIC); the book topic's partitions."
  type        = string
  default     = "qc.trades.v1"
}

variable "dead_letter_topic" {
  description = "Kafka dead-letter topic (QUANTCORE_DEAD_LETTER_TOPIC)."
  type        = string
  default     = "qc.deadletter.v1"
}

variable "spark_master" {
  description = "QUANTCORE_SPARK_MASTER for Spark sessions started outside EMR (Dagster run tasks, a laptop). EMR Serverless jobs get their master from EMR."
  type        = string
  default     = "local[*]"
}

variable "log_level" {
  description = "QUANTCORE_LOG_LEVEL of every platform process."
  type        = string
  default     = "INFO"
}

# --- image -------------------------------------------------------------------------
variable "image" {
  description = "Full platform image reference; null = <the ECR repository created here>:<image_tag>."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Tag of the platform image in the ECR repository (tags are immutable)."
  type        = string
  default     = "0.1.0"
}

variable "cpu_architecture" {
  description = "CPU architecture of the image on Fargate: X86_64 or ARM64."
  type        = string
  default     = "X86_64"
  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

# --- Kafka (MSK) -------------------------------------------------------------------
variable "kafka_version" {
  description = "Apache Kafka version of the MSK cluster."
  type        = string
  default     = "3.6.0"
}

variable "kafka_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.t3.small"
}

variable "kafka_broker_count" {
  description = "MSK brokers; a multiple of the number of availability_zones."
  type        = number
  default     = 2
  validation {
    condition     = var.kafka_broker_count >= length(var.availability_zones) && var.kafka_broker_count % length(var.availability_zones) == 0
    error_message = "kafka_broker_count must be a positive multiple of the number of availability_zones."
  }
}

variable "kafka_ebs_volume_gb" {
  description = "EBS storage per broker, GiB."
  type        = number
  default     = 50
}

variable "kafka_retention_hours" {
  description = "Retention of the topics (the replay window)."
  type        = number
  default     = 72
}

variable "kafka_sasl_username" {
  description = "SCRAM username (QUANTCORE_KAFKA_SASL_USERNAME)."
  type        = string
  default     = "quantcore"
}

variable "kafka_scram_rotation" {
  description = "Bump to rotate the SCRAM password (written write-only; never in state)."
  type        = number
  default     = 1
}

# --- Redis (ElastiCache) -----------------------------------------------------------
variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes: 1 primary + N-1 replicas, 2-6 (Multi-AZ automatic failover is always on)."
  type        = number
  default     = 2
  validation {
    condition     = var.redis_num_cache_clusters >= 2 && var.redis_num_cache_clusters <= 6
    error_message = "redis_num_cache_clusters must be between 2 and 6."
  }
}

# --- Spark (EMR Serverless) --------------------------------------------------------
variable "emr_release_label" {
  description = "EMR Serverless release (sets the Spark version; must match the platform's Spark)."
  type        = string
  default     = "emr-7.9.0"
}

variable "emr_image_uri" {
  description = "Optional custom EMR Serverless image with the platform installed; null = stock image + job code from S3."
  type        = string
  default     = null
}

variable "emr_max_cpu" {
  description = "Cap on the vCPUs of all running Spark workers."
  type        = string
  default     = "16 vCPU"
}

variable "emr_max_memory" {
  description = "Cap on the memory of all running Spark workers."
  type        = string
  default     = "64 GB"
}

# --- ECS services -------------------------------------------------------------------
variable "ingest_cpu" {
  description = "Fargate CPU units per ingest shard."
  type        = number
  default     = 512
}

variable "ingest_memory" {
  description = "Fargate memory (MiB) per ingest shard."
  type        = number
  default     = 1024
}

variable "serve_desired_count" {
  description = "gRPC server tasks behind the NLB."
  type        = number
  default     = 2
}

variable "serve_cpu" {
  description = "Fargate CPU units per gRPC server."
  type        = number
  default     = 512
}

variable "serve_memory" {
  description = "Fargate memory (MiB) per gRPC server."
  type        = number
  default     = 1024
}

variable "dagster_run_cpu" {
  description = "Fargate CPU units of each Dagster run task."
  type        = number
  default     = 512
}

variable "dagster_run_memory" {
  description = "Fargate memory (MiB) of each Dagster run task."
  type        = number
  default     = 1024
}

# --- gRPC endpoint ------------------------------------------------------------------
variable "nlb_internal" {
  description = "Internal NLB (reachable from the VPC and peered networks only)."
  type        = bool
  default     = true
}

variable "allow_public_grpc" {
  description = "Permit 0.0.0.0/0 in grpc_allowed_cidrs (the only ingress ever open to the world)."
  type        = bool
  default     = false
}

variable "grpc_allowed_cidrs" {
  description = "CIDRs (besides the VPC) allowed to reach the gRPC listener."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.grpc_allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "grpc_allowed_cidrs must hold valid IPv4 CIDRs."
  }
  validation {
    condition     = var.allow_public_grpc || !contains(var.grpc_allowed_cidrs, "0.0.0.0/0")
    error_message = "0.0.0.0/0 in grpc_allowed_cidrs requires allow_public_grpc = true."
  }
}

variable "grpc_certificate_arn" {
  description = "ACM certificate ARN for a TLS listener on 50051; null = TCP listener."
  type        = string
  default     = null
}

variable "grpc_bearer_rotation" {
  description = "Bump to rotate the gRPC bearer token (written write-only; never in state)."
  type        = number
  default     = 1
}

# --- Dagster database ---------------------------------------------------------------
variable "db_instance_class" {
  description = "RDS instance class of the Dagster database."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_allocated_storage" {
  description = "Initial database storage, GiB."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "Multi-AZ standby for the Dagster database."
  type        = bool
  default     = false
}

# --- lifecycle ----------------------------------------------------------------------
variable "deletion_protection" {
  description = "Deletion protection of the database and the NLB (set false, apply, then destroy)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let destroy empty the S3 buckets and the ECR repository (dev stacks only)."
  type        = bool
  default     = false
}

variable "recovery_window_days" {
  description = "Days a deleted secret stays restorable (0 = immediate, lets a stack be recreated under the same names)."
  type        = number
  default     = 7
  validation {
    condition     = var.recovery_window_days == 0 || (var.recovery_window_days >= 7 && var.recovery_window_days <= 30)
    error_message = "recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group and of the access-log bucket."
  type        = number
  default     = 365
}
