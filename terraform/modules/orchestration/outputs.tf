output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "db_address" {
  description = "Hostname of the Dagster PostgreSQL database (DAGSTER_PG_HOST)."
  value       = aws_db_instance.dagster.address
}

output "db_port" {
  description = "Port of the Dagster database."
  value       = aws_db_instance.dagster.port
}

output "db_name" {
  description = "Database name (DAGSTER_PG_DB)."
  value       = aws_db_instance.dagster.db_name
}

output "db_username" {
  description = "Database user (DAGSTER_PG_USER)."
  value       = aws_db_instance.dagster.username
}

output "db_secret_arn" {
  description = "ARN of the RDS-managed secret with the database password (JSON key `password`)."
  value       = aws_db_instance.dagster.master_user_secret[0].secret_arn
}

output "webserver_service_name" {
  description = "ECS service of the Dagster webserver."
  value       = aws_ecs_service.webserver.name
}

output "daemon_service_name" {
  description = "ECS service of the Dagster daemon."
  value       = aws_ecs_service.daemon.name
}

output "run_task_definition_arn" {
  description = "Task definition the EcsRunLauncher starts for each run (DAGSTER_RUN_TASK_DEFINITION)."
  value       = aws_ecs_task_definition.dagster["run"].arn
}

output "run_task_definition_family" {
  description = "Family of the run task definition (for IAM scoping)."
  value       = aws_ecs_task_definition.dagster["run"].family
}

output "log_group_name" {
  description = "CloudWatch log group of the Dagster containers and runs."
  value       = aws_cloudwatch_log_group.dagster.name
}

output "log_group_arn" {
  description = "ARN of the Dagster log group."
  value       = aws_cloudwatch_log_group.dagster.arn
}

output "ecs_exec_log_group_arn" {
  description = "ARN of the ECS Exec session log group."
  value       = aws_cloudwatch_log_group.ecs_exec.arn
}
