output "service_names" {
  description = "ECS service per shard, index = shard id."
  value       = aws_ecs_service.shard[*].name
}

output "log_group_name" {
  description = "CloudWatch log group of the shards (one stream prefix per shard)."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "ARN of the ingest log group."
  value       = aws_cloudwatch_log_group.this.arn
}

output "commands" {
  description = "Container command per shard, index = shard id."
  value       = local.commands
}
