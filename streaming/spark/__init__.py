"""Spark: the signal expressions (`signals`, shared by stream and replay), the compute
stream (`compute_job` -> `compute_rows` -> `redis_writer` / `row_socket`), and the replay
(`replay_job`, `replay_plan`, `replay_offsets`, `delta_tables`, `replay_checks`).
"""
