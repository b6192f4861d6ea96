"""The shared core: what every part of the platform needs and nothing that is a part.

Configuration sections (`settings`), logging (`log`), time (`timeutil`), errors
(`errors`), the Kafka/Redis/Spark client factories (`clients`, `spark_session`, `jars`),
heartbeats (`heartbeats`), the topic catalog (`topics`), the wire contracts (`wire`, with
the generated code in `quantcore.v1`), the Redis signal contract (`signal_store`), the
process lifecycle (`lifecycle`), retry delays (`backoff`) and polling (`polling`).

May import: the standard library and third-party packages only. Never `streaming`,
`serving`, `quantcore_platform` or `bench` (import-linter checks it in `make test`).
"""
