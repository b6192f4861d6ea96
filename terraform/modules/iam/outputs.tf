output "execution_role_arns" {
  description = "ECS execution role per service: ingest, serve, dagster_web, dagster_worker."
  value       = { for key, role in aws_iam_role.execution : key => role.arn }
}

output "task_role_arns" {
  description = "ECS task role per service: ingest, serve, dagster_web, dagster_daemon, dagster_run."
  value       = { for key, role in aws_iam_role.task : key => role.arn }
}

output "emr_job_role_arn" {
  description = "Runtime role of the EMR Serverless jobs (StartJobRun executionRoleArn)."
  value       = aws_iam_role.emr_job.arn
}
