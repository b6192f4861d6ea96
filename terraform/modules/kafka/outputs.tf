output "cluster_arn" {
  description = "ARN of the MSK cluster."
  value       = aws_msk_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the MSK cluster (part of IAM topic/group ARNs)."
  value       = aws_msk_cluster.this.cluster_name
}

output "bootstrap_brokers_sasl_scram" {
  description = "SASL/SCRAM over TLS bootstrap brokers (port 9096): QUANTCORE_KAFKA_BOOTSTRAP."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "bootstrap_brokers_sasl_iam" {
  description = "IAM over TLS bootstrap brokers (port 9098)."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
}

output "sasl_username" {
  description = "SCRAM username (QUANTCORE_KAFKA_SASL_USERNAME)."
  value       = var.sasl_username
}

output "scram_secret_arn" {
  description = "ARN of the AmazonMSK_ secret associated with the cluster."
  value       = aws_secretsmanager_secret.scram.arn
}

output "sasl_password_secret_arn" {
  description = "ARN of the plain-string secret holding QUANTCORE_KAFKA_SASL_PASSWORD."
  value       = aws_secretsmanager_secret.sasl_password.arn
}

output "sasl_password_secret_name" {
  description = "Name of the plain-string SCRAM password secret (for EMR.secret@ references)."
  value       = aws_secretsmanager_secret.sasl_password.name
}

output "log_group_name" {
  description = "CloudWatch log group of the broker logs."
  value       = aws_cloudwatch_log_group.broker.name
}
