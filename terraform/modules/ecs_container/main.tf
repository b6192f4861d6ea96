# One container definition, built the same way for every ECS task of the platform
# (ingest shards, gRPC servers, Dagster webserver/daemon/run). No resources: the
# calling module owns its task definition and passes `json` as container_definitions
# and `volumes` as its volume blocks.
#
# Every container gets:
#   - the image, `essential`, and the command when one is given;
#   - its environment plus AWS_REGION / AWS_DEFAULT_REGION, and its secrets as
#     ECS `secrets` (valueFrom = Secrets Manager ARN), both sorted by name;
#   - a read-only root filesystem unless read_only_root_filesystem = false, with a
#     writable volume per mount;
#   - tini as PID 1 (initProcessEnabled) and awslogs to its log group.

locals {
  environment = merge(var.environment, {
    AWS_REGION         = var.region
    AWS_DEFAULT_REGION = var.region
  })

  definition = merge(
    {
      name                   = var.name
      image                  = var.image
      essential              = true
      environment            = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
      secrets                = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
      readonlyRootFilesystem = var.read_only_root_filesystem
      mountPoints            = [for m in var.mounts : { sourceVolume = m.volume, containerPath = m.path, readOnly = false }]
      linuxParameters        = { initProcessEnabled = true }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = var.log_group
          awslogs-region        = var.region
          awslogs-stream-prefix = var.log_stream_prefix
        }
      }
    },
    var.command == null ? {} : { command = var.command },
    var.ports == null ? {} : { portMappings = [for p in var.ports : { containerPort = p, protocol = "tcp" }] },
    var.stop_timeout == null ? {} : { stopTimeout = var.stop_timeout },
  )
}
