"""The data plane, exchange side: the simulator, ingest into Kafka, and the Spark jobs.

- `simulator/`: the Binance-protocol exchange (the offline default source).
- `ingest/`: exchange adapters, local book, Kafka producer, shards and their runner.
- `spark/`: the shared signal expressions, the compute stream and the replay job.

May import: the shared core (`quantcore`) and third-party packages. Never the control plane
(`quantcore_platform`), `serving`, `bench` or Dagster (Spark executors load these modules).
"""
