"""Ingest: Binance depth streams (or the simulator) -> normalized book records -> Kafka.

Pure core: `sharding` (who ingests what), `frames` (parse + validate), `local_book`
(Binance's book-sync rules), `records` (protobuf), `pipeline` (frames to records).
Edges: `connection` (WebSocket with reconnect/handover), `snapshots` (REST), `exchange_info`
(REST: the exchange's tick sizes, for the micro-price tables), `producer`
(Kafka), `shard` (one process), `runner` (n processes, restarted when they die).
"""
