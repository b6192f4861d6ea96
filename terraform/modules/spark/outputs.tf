output "application_id" {
  description = "ID of the EMR Serverless application (StartJobRun applicationId)."
  value       = aws_emrserverless_application.this.id
}

output "application_arn" {
  description = "ARN of the EMR Serverless application."
  value       = aws_emrserverless_application.this.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the Spark job runs."
  value       = aws_cloudwatch_log_group.jobs.name
}

output "log_group_arn" {
  description = "ARN of the Spark job log group."
  value       = aws_cloudwatch_log_group.jobs.arn
}

output "release_label" {
  description = "EMR release of the application."
  value       = aws_emrserverless_application.this.release_label
}
