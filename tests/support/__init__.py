"""Helpers the tests share; plain functions and classes, no fixtures (those are in tests/fixtures/).

- `settings`: throwaway platform settings (own home, free ports) and the CLI's environment.
- `books`: build `wire.BookRecord`s and produce them to Kafka.
- `replay_records`: the known records of two simulated days for the replay tests, and what
  each becomes in Delta.
- `ingest`: the ingest harness: a shard in a thread or the CLI runner, shard heartbeats, and
  reading back and checking the books they wrote.
- `hub_messages`: the serving hub's test universe, its Redis payloads and decoded messages.

Test modules import from here, never from another test module.
"""
