output "nlb_dns_name" {
  description = "DNS name of the gRPC Network Load Balancer."
  value       = aws_lb.grpc.dns_name
}

output "nlb_arn" {
  description = "ARN of the gRPC Network Load Balancer."
  value       = aws_lb.grpc.arn
}

output "grpc_tls" {
  description = "Whether the listener terminates TLS."
  value       = local.use_tls
}

output "grpc_token_secret_arn" {
  description = "ARN of the secret holding QUANTCORE_GRPC_TOKEN."
  value       = aws_secretsmanager_secret.grpc_token.arn
}

output "service_name" {
  description = "ECS service of the gRPC servers."
  value       = aws_ecs_service.serve.name
}

output "log_group_name" {
  description = "CloudWatch log group of the gRPC servers."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "ARN of the serve log group."
  value       = aws_cloudwatch_log_group.this.arn
}
