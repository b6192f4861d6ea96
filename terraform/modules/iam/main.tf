# IAM: one execution role (ECS agent: image pull, logs, the secrets of that service)
# and one task role (what the code itself may call) per service, plus the EMR
# Serverless job role. Every statement names the resources it needs; "*" appears only
# for actions that AWS does not scope to a resource.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  # MSK IAM resources: arn:...:cluster/NAME/UUID -> topic/NAME/UUID/TOPIC, group/NAME/UUID/GROUP
  msk_topic_prefix = replace(var.kafka_cluster_arn, ":cluster/", ":topic/")
  msk_group_prefix = replace(var.kafka_cluster_arn, ":cluster/", ":group/")
  book_topic_arn   = "${local.msk_topic_prefix}/${var.book_topic}"
  trade_topic_arn  = "${local.msk_topic_prefix}/${var.trade_topic}"
  dlq_topic_arn    = "${local.msk_topic_prefix}/${var.dead_letter_topic}"
  consumer_groups  = "${local.msk_group_prefix}/*"

  ecs_task_arns    = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${var.ecs_cluster_name}/*"
  ecs_service_arns = [for name in var.managed_service_names : "arn:${local.partition}:ecs:${local.region}:${local.account_id}:service/${var.ecs_cluster_name}/${name}"]
  run_task_def_arn = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${var.run_task_definition_family}:*"

  kms_via = ["secretsmanager.${local.region}.amazonaws.com", "s3.${local.region}.amazonaws.com"]

  # Execution roles: which secrets and which log group each service's ECS agent may use.
  execution_roles = {
    ingest         = { secrets = var.ingest_secret_arns, log_group = var.ingest_log_group_arn }
    serve          = { secrets = var.serve_secret_arns, log_group = var.serve_log_group_arn }
    dagster_web    = { secrets = var.dagster_web_secret_arns, log_group = var.dagster_log_group_arn }
    dagster_worker = { secrets = var.dagster_worker_secret_arns, log_group = var.dagster_log_group_arn }
  }
  task_roles = toset(["ingest", "serve", "dagster_web", "dagster_daemon", "dagster_run"])
}

# ---------------------------------------------------------------------------------
# Trust policies
# ---------------------------------------------------------------------------------
data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

data "aws_iam_policy_document" "emr_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ---------------------------------------------------------------------------------
# ECS execution roles
# ---------------------------------------------------------------------------------
resource "aws_iam_role" "execution" {
  for_each           = local.execution_roles
  name               = "${var.name_prefix}-${replace(each.key, "_", "-")}-exec"
  description        = "ECS execution role of ${each.key}: image pull, logs, its own secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}

data "aws_iam_policy_document" "execution" {
  for_each = local.execution_roles

  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # not resource-scoped by AWS
  }
  statement {
    sid       = "EcrPull"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [var.ecr_repository_arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${each.value.log_group}:*"]
  }
  statement {
    sid       = "Secrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = each.value.secrets
  }
  statement {
    sid       = "DecryptSecretsAndImage"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.execution_roles
  name     = "execution"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution[each.key].json
}

# ---------------------------------------------------------------------------------
# Task roles
# ---------------------------------------------------------------------------------
resource "aws_iam_role" "task" {
  for_each           = local.task_roles
  name               = "${var.name_prefix}-${replace(each.key, "_", "-")}-task"
  description        = "Task role of ${each.key}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}

# ingest: produce to the book, trade and dead-letter topics (MSK IAM auth path, port 9098).
data "aws_iam_policy_document" "ingest" {
  statement {
    sid       = "MskConnect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:WriteDataIdempotently"]
    resources = [var.kafka_cluster_arn]
  }
  statement {
    sid       = "MskProduce"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
    resources = [local.book_topic_arn, local.trade_topic_arn, local.dlq_topic_arn]
  }
}

# serve: talks to Redis only (network + AUTH token); no AWS API at all.
# It still gets its own empty role so the code never runs with the execution role.

# --- Statements the Dagster task roles share (merged with source_policy_documents) ---
# KMS for the compute logs (S3) and secrets, only through those services: webserver,
# daemon and run.
data "aws_iam_policy_document" "dagster_kms" {
  statement {
    sid       = "Kms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via
    }
  }
}

# Listing the compute logs, under their prefix only: webserver and daemon (the run
# role lists the buckets it reads, see ListBuckets).
data "aws_iam_policy_document" "dagster_list_compute_logs" {
  statement {
    sid       = "ListComputeLogs"
    actions   = ["s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.compute_log_prefix}/*"]
    }
  }
}

# Watching and stopping run tasks: webserver (stop a run from the UI) and daemon
# (the EcsRunLauncher and run monitoring).
data "aws_iam_policy_document" "dagster_stop_runs" {
  statement {
    sid       = "StopRuns"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = [local.ecs_task_arns]
  }
  statement {
    sid       = "DescribeTaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"] # not resource-scoped by AWS
  }
}

# What the daemon (health sensors) and the run tasks both do: watch the platform's
# services, Spark jobs, Kafka topics and consumer lag, and read/write compute logs.
# Read-only except the compute logs; the run role adds what changes things.
data "aws_iam_policy_document" "dagster_watch" {
  statement {
    sid       = "WatchServices"
    actions   = ["ecs:DescribeServices"]
    resources = local.ecs_service_arns
  }
  statement {
    sid       = "WatchSparkJobs"
    actions   = ["emr-serverless:GetApplication", "emr-serverless:GetJobRun", "emr-serverless:ListJobRuns"]
    resources = [var.emr_application_arn, "${var.emr_application_arn}/jobruns/*"]
  }
  statement {
    sid       = "KafkaConnect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [var.kafka_cluster_arn]
  }
  statement {
    sid       = "WatchKafkaTopicsAndLag"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:DescribeGroup"]
    resources = [local.book_topic_arn, local.trade_topic_arn, local.dlq_topic_arn, local.consumer_groups]
  }
  statement {
    sid       = "ComputeLogs"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.artifacts_bucket_arn}/${var.compute_log_prefix}/*"]
  }
}

# dagster web: show compute logs, stop runs from the UI, ECS Exec for port forwarding.
data "aws_iam_policy_document" "dagster_web" {
  source_policy_documents = [
    data.aws_iam_policy_document.dagster_stop_runs.json,
    data.aws_iam_policy_document.dagster_kms.json,
    data.aws_iam_policy_document.dagster_list_compute_logs.json,
  ]

  statement {
    sid       = "ReadComputeLogs"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/${var.compute_log_prefix}/*"]
  }
  statement {
    sid       = "EcsExec"
    actions   = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
    resources = ["*"] # not resource-scoped by AWS
  }
  statement {
    sid       = "EcsExecLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.ecs_exec_log_group_arn}:*"]
  }
  statement {
    sid       = "EcsExecLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"] # not resource-scoped by AWS
  }
}

# dagster daemon: the EcsRunLauncher (run and tag run tasks; watching and stopping
# them is shared with the webserver), plus the shared watch statements for the
# health sensors and the compute logs.
data "aws_iam_policy_document" "dagster_daemon" {
  source_policy_documents = [
    data.aws_iam_policy_document.dagster_stop_runs.json,
    data.aws_iam_policy_document.dagster_watch.json,
    data.aws_iam_policy_document.dagster_kms.json,
    data.aws_iam_policy_document.dagster_list_compute_logs.json,
  ]

  statement {
    sid       = "LaunchRuns"
    actions   = ["ecs:RunTask"]
    resources = [local.run_task_def_arn]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.ecs_cluster_arn]
    }
  }
  statement {
    sid       = "TagRunTasks"
    actions   = ["ecs:TagResource"]
    resources = [local.ecs_task_arns]
  }
  statement {
    sid       = "LauncherLookups"
    actions   = ["ecs:ListAccountSettings", "ec2:DescribeNetworkInterfaces"]
    resources = ["*"] # not resource-scoped by AWS
  }
  statement {
    sid       = "PassRunRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task["dagster_run"].arn, aws_iam_role.execution["dagster_worker"].arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "ReadRunTaskLogs"
    actions   = ["logs:GetLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.dagster_log_group_arn}:*"]
  }
}

# dagster run: what a run does on top of the shared watch statements: submit and
# cancel EMR Serverless jobs (compute stream, replays), restart the ingest/serve
# services, provision topics, read the Delta tables for asset checks, upload job
# code and read job logs.
data "aws_iam_policy_document" "dagster_run" {
  source_policy_documents = [
    data.aws_iam_policy_document.dagster_watch.json,
    data.aws_iam_policy_document.dagster_kms.json,
  ]

  statement {
    sid = "SparkJobs"
    actions = [
      "emr-serverless:StartJobRun",
      "emr-serverless:CancelJobRun",
      "emr-serverless:GetDashboardForJobRun",
      "emr-serverless:StartApplication",
      "emr-serverless:TagResource",
    ]
    resources = [var.emr_application_arn, "${var.emr_application_arn}/jobruns/*"]
  }
  statement {
    sid       = "PassSparkJobRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.emr_job.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["emr-serverless.amazonaws.com"]
    }
  }
  statement {
    sid       = "RestartStreams"
    actions   = ["ecs:UpdateService"]
    resources = local.ecs_service_arns
  }
  statement {
    sid       = "KafkaTopics"
    actions   = ["kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopicDynamicConfiguration"]
    resources = [local.book_topic_arn, local.trade_topic_arn, local.dlq_topic_arn, local.consumer_groups]
  }
  statement {
    sid       = "ReadDelta"
    actions   = ["s3:GetObject"]
    resources = ["${var.data_bucket_arn}/*"]
  }
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket"]
    resources = [var.data_bucket_arn, var.artifacts_bucket_arn]
  }
  statement {
    sid       = "JobCodeAndLogs"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.artifacts_bucket_arn}/${var.job_code_prefix}/*", "${var.artifacts_bucket_arn}/${var.emr_log_prefix}/*"]
  }
  statement {
    sid       = "ReadSparkJobLogs"
    actions   = ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.emr_log_group_arn}:*"]
  }
}

locals {
  task_policies = {
    ingest         = data.aws_iam_policy_document.ingest.json
    dagster_web    = data.aws_iam_policy_document.dagster_web.json
    dagster_daemon = data.aws_iam_policy_document.dagster_daemon.json
    dagster_run    = data.aws_iam_policy_document.dagster_run.json
  }
}

resource "aws_iam_role_policy" "task" {
  for_each = local.task_policies
  name     = "task"
  role     = aws_iam_role.task[each.key].id
  policy   = each.value
}

# ---------------------------------------------------------------------------------
# EMR Serverless job role: the compute stream and the replays.
# ---------------------------------------------------------------------------------
resource "aws_iam_role" "emr_job" {
  name               = "${var.name_prefix}-emr-job"
  description        = "EMR Serverless job runtime role: Kafka in, Delta/checkpoints on S3, Redis token"
  assume_role_policy = data.aws_iam_policy_document.emr_trust.json
}

data "aws_iam_policy_document" "emr_job" {
  statement {
    sid       = "DeltaAndCheckpoints"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.data_bucket_arn}/*", "${var.checkpoint_bucket_arn}/*"]
  }
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.data_bucket_arn, var.checkpoint_bucket_arn, var.artifacts_bucket_arn]
  }
  statement {
    sid       = "JobCode"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/${var.job_code_prefix}/*"]
  }
  statement {
    sid       = "JobLogsToS3"
    actions   = ["s3:PutObject"]
    resources = ["${var.artifacts_bucket_arn}/${var.emr_log_prefix}/*"]
  }
  statement {
    sid       = "JobLogsToCloudWatch"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.emr_log_group_arn}:*"]
  }
  statement {
    sid       = "DescribeLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"] # not resource-scoped by AWS
  }
  statement {
    sid       = "KafkaConnect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [var.kafka_cluster_arn]
  }
  statement {
    sid       = "KafkaReadBooks"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = [local.book_topic_arn]
  }
  statement {
    sid       = "KafkaWriteDeadLetters"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
    resources = [local.dlq_topic_arn]
  }
  statement {
    sid       = "KafkaConsumerGroups"
    actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
    resources = [local.consumer_groups]
  }
  statement {
    sid       = "Secrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = var.emr_secret_arns
  }
  statement {
    sid       = "Kms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "emr_job" {
  name   = "job"
  role   = aws_iam_role.emr_job.id
  policy = data.aws_iam_policy_document.emr_job.json
}
