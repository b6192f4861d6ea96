"""The control plane: Dagster definitions, the `quantcore` CLI and the local service managers.

- `definitions`, `stream_jobs`, `sensors`, `replay_assets`, `resources`: the Dagster code
  location (streams as long-running jobs with health sensors; replays as partitioned assets).
- `cli/`: the `quantcore` command, thin over library functions.
- `services/`: the local Kafka broker, Redis, simulator and Dagster processes, and `up`/`down`.
- `streams/`: how a stream is launched (catalog), supervised (child process) and healed
  (the pure health policy).

May import: the shared core (`quantcore`) and the data plane (`streaming`, `serving`).
Never `bench` (a CLI plugin above this layer). Checked by import-linter in `make test`.
"""
