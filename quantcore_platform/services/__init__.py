"""The local services `quantcore up` starts (Kafka broker, Redis, simulator, Dagster webserver
and daemon) as child processes with pid files, and the platform's up/down/status."""
