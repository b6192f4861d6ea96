output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (NAT gateways, public NLB)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (every service)."
  value       = aws_subnet.private[*].id
}

output "nat_public_ips" {
  description = "Egress IPs of the NAT gateways (what the exchange sees)."
  value       = aws_eip.nat[*].public_ip
}

output "security_group_ids" {
  description = "Security group ID per hop: nlb, serve, ingest, compute, kafka, redis, rds, dagster_web, dagster_worker."
  value       = { for key, sg in aws_security_group.this : key => sg.id }
}
