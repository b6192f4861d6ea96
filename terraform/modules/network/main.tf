# Network: a VPC over the given availability zones with public subnets (NAT, optional public NLB)
# and private subnets (everything else), NAT egress to the exchange, VPC flow logs,
# an S3 gateway endpoint, and one security group per hop with only the ports it needs.

data "aws_region" "current" {}

# An explicit allowlist of zones: the subnets never move when AWS adds a zone.
data "aws_availability_zones" "available" {
  state = "available"
  filter {
    name   = "zone-name"
    values = var.availability_zones
  }
}

locals {
  az_count = length(var.availability_zones)
  azs      = var.availability_zones
  # 10.x.0.0/16 -> public /24s at the bottom, private /20s above them.
  public_cidrs  = [for i in range(local.az_count) : cidrsubnet(var.vpc_cidr, 8, i)]
  private_cidrs = [for i in range(local.az_count) : cidrsubnet(var.vpc_cidr, 4, i + 1)]
  nat_count     = var.single_nat_gateway ? 1 : local.az_count
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = var.name_prefix }
}

# Lock down the default security group: nothing may use it.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${var.name_prefix}-default-unused" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = var.name_prefix }
}

resource "aws_subnet" "public" {
  count                   = local.az_count
  vpc_id                  = aws_vpc.this.id
  cidr_block              = local.public_cidrs[count.index]
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = false
  tags                    = { Name = "${var.name_prefix}-public-${local.azs[count.index]}", Tier = "public" }
}

resource "aws_subnet" "private" {
  count             = local.az_count
  vpc_id            = aws_vpc.this.id
  cidr_block        = local.private_cidrs[count.index]
  availability_zone = local.azs[count.index]
  tags              = { Name = "${var.name_prefix}-private-${local.azs[count.index]}", Tier = "private" }

  lifecycle {
    precondition {
      condition     = contains(data.aws_availability_zones.available.names, local.azs[count.index])
      error_message = "Zone ${local.azs[count.index]} is not available in this account and region."
    }
  }
}

resource "aws_eip" "nat" {
  count  = local.nat_count
  domain = "vpc"
  tags   = { Name = "${var.name_prefix}-nat-${count.index}" }
}

resource "aws_nat_gateway" "this" {
  count         = local.nat_count
  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = { Name = "${var.name_prefix}-nat-${count.index}" }
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${var.name_prefix}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count          = local.az_count
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  count  = local.az_count
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${var.name_prefix}-private-${local.azs[count.index]}" }
}

# Private egress (Binance WebSocket/REST, AWS APIs, ECR) goes through NAT.
resource "aws_route" "private_nat" {
  count                  = local.az_count
  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
}

resource "aws_route_table_association" "private" {
  count          = local.az_count
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# S3 traffic (Delta tables, checkpoints, ECR layers) skips the NAT: free and private.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id
  tags              = { Name = "${var.name_prefix}-s3" }
}

resource "aws_flow_log" "this" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "s3"
  log_destination      = "${var.flow_log_bucket_arn}/vpc-flow-logs/"
  destination_options {
    file_format        = "parquet"
    per_hour_partition = true
  }
}

# ---------------------------------------------------------------------------------
# Security groups: one per hop. Rules are separate resources so the matrix below is
# the single place that says who may talk to whom, and on which port.
# ---------------------------------------------------------------------------------
locals {
  security_groups = {
    nlb            = "Network Load Balancer in front of the gRPC servers"
    serve          = "gRPC servers (quantcore stream serve)"
    ingest         = "Ingest shards (quantcore stream ingest)"
    compute        = "EMR Serverless Spark jobs (compute stream and replays)"
    kafka          = "Amazon MSK brokers"
    redis          = "ElastiCache Redis"
    rds            = "RDS PostgreSQL (Dagster storage)"
    dagster_web    = "Dagster webserver"
    dagster_worker = "Dagster daemon and the ECS run tasks it launches"
  }

  kafka_ports = [
    { port = 9096, what = "SASL/SCRAM over TLS" },
    { port = 9098, what = "IAM over TLS" },
  ]

  # Ingress to a service from a client security group: { to, from, port, what }.
  sg_ingress = concat(
    [for pair in setproduct(["ingest", "compute", "dagster_worker"], local.kafka_ports) : {
      to = "kafka", from = pair[0], port = pair[1].port, what = "Kafka ${pair[1].what} from ${pair[0]}"
    }],
    [for client in ["compute", "serve", "dagster_worker"] : {
      to = "redis", from = client, port = 6379, what = "Redis TLS from ${client}"
    }],
    [for client in ["dagster_web", "dagster_worker"] : {
      to = "rds", from = client, port = 5432, what = "PostgreSQL from ${client}"
    }],
    [
      { to = "serve", from = "nlb", port = var.grpc_port, what = "gRPC from the NLB (traffic and health checks)" },
      { to = "nlb", from = "dagster_worker", port = var.grpc_port, what = "gRPC health checks from Dagster sensors and runs" },
    ],
  )
  sg_ingress_map = { for rule in local.sg_ingress : "${rule.to}-from-${rule.from}-${rule.port}" => rule }

  # Egress towards another security group mirrors each ingress rule.
  sg_egress_map = { for key, rule in local.sg_ingress_map : "${rule.from}-to-${rule.to}-${rule.port}" => rule }

  # HTTPS to anywhere (AWS APIs, ECR, S3, Binance REST) for the groups that run code.
  https_egress = ["serve", "ingest", "compute", "dagster_web", "dagster_worker"]

  # gRPC clients by CIDR: the VPC itself plus the operator's list.
  grpc_client_cidrs = distinct(concat([var.vpc_cidr], var.grpc_allowed_cidrs))
}

resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:Each group is attached through module.network.security_group_ids to its service (MSK, ElastiCache, RDS, NLB, ECS services, EMR); checkov cannot follow for_each instances across modules. tests/terraform checks every key is wired.
  for_each    = local.security_groups
  name_prefix = "${var.name_prefix}-${replace(each.key, "_", "-")}-"
  description = each.value
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.name_prefix}-${replace(each.key, "_", "-")}" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "from_group" {
  for_each                     = local.sg_ingress_map
  security_group_id            = aws_security_group.this[each.value.to].id
  referenced_security_group_id = aws_security_group.this[each.value.from].id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  description                  = each.value.what
}

resource "aws_vpc_security_group_egress_rule" "to_group" {
  for_each                     = local.sg_egress_map
  security_group_id            = aws_security_group.this[each.value.from].id
  referenced_security_group_id = aws_security_group.this[each.value.to].id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  description                  = "To ${each.value.to}: ${each.value.what}"
}

# The NLB listener: the only ingress by CIDR. 0.0.0.0/0 is accepted in
# grpc_allowed_cidrs only when allow_public_grpc = true (checked by the root module).
resource "aws_vpc_security_group_ingress_rule" "grpc_clients" {
  for_each          = toset(local.grpc_client_cidrs)
  security_group_id = aws_security_group.this["nlb"].id
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.grpc_port
  to_port           = var.grpc_port
  description       = "gRPC clients from ${each.value}"
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each          = toset(local.https_egress)
  security_group_id = aws_security_group.this[each.value].id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "HTTPS: AWS APIs, ECR, S3 and the exchange's REST API"
}

resource "aws_vpc_security_group_egress_rule" "exchange_ws" {
  security_group_id = aws_security_group.this["ingest"].id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = var.exchange_ws_port
  to_port           = var.exchange_ws_port
  description       = "Exchange WebSocket (Binance stream.binance.com:9443)"
}
