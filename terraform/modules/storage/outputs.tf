output "kms_key_arn" {
  description = "ARN of the platform's customer-managed KMS key."
  value       = aws_kms_key.this.arn
}

output "data_bucket_name" {
  description = "Bucket of the Delta tables (books_raw, book_signals)."
  value       = aws_s3_bucket.this["data"].id
}

output "data_bucket_arn" {
  description = "ARN of the Delta table bucket."
  value       = aws_s3_bucket.this["data"].arn
}

output "checkpoint_bucket_name" {
  description = "Bucket of the Spark Structured Streaming checkpoints."
  value       = aws_s3_bucket.this["checkpoints"].id
}

output "checkpoint_bucket_arn" {
  description = "ARN of the checkpoint bucket."
  value       = aws_s3_bucket.this["checkpoints"].arn
}

output "artifacts_bucket_name" {
  description = "Bucket of job code, EMR job logs and Dagster compute logs."
  value       = aws_s3_bucket.this["artifacts"].id
}

output "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  value       = aws_s3_bucket.this["artifacts"].arn
}

output "logs_bucket_name" {
  description = "Bucket receiving S3 access logs, VPC flow logs and NLB access logs."
  value       = aws_s3_bucket.logs.id
}

output "logs_bucket_arn" {
  description = "ARN of the access-log bucket."
  value       = aws_s3_bucket.logs.arn
}

output "ecr_repository_url" {
  description = "ECR repository of the platform image."
  value       = aws_ecr_repository.platform.repository_url
}

output "ecr_repository_arn" {
  description = "ARN of the ECR repository (for pull permissions)."
  value       = aws_ecr_repository.platform.arn
}
