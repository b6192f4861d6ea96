output "json" {
  description = "container_definitions of a task definition with this one container (JSON)."
  value       = jsonencode([local.definition])
}

output "volumes" {
  description = "Names of the task volumes the mounts need, in mount order (one `volume` block each)."
  value       = [for m in var.mounts : m.volume]
}
