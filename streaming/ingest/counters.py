"""What a shard counts; reported with its heartbeat so health checks can read it."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field


@dataclass
class IngestCounters:
    frames: int = 0  # WebSocket frames received
    records: int = 0  # book records handed to Kafka
    resyncs: int = 0  # local books dropped and rebuilt (gap or crossed)
    crossed: int = 0  # of which: crossed books
    dead_letters: int = 0  # frames/snapshots sent to the dead-letter topic
    reconnects: int = 0  # WebSocket connections re-opened after a failure
    handovers: int = 0  # proactive reconnects (connection age limit)
    delivery_errors: int = 0  # Kafka deliveries that failed
    stale: int = 0  # events already covered by the book (e.g. after a reconnect)
    snapshots: int = 0  # REST snapshots loaded
    snapshot_retries: int = 0  # snapshot requests that failed or were too old
    queue_full: int = 0  # times the bounded producer queue pushed back
    last_record_monotonic: float = field(default=0.0, repr=False)

    def as_report(self) -> dict[str, int | float]:
        """The heartbeat payload: counters plus pid and the age of the last record."""
        report: dict[str, int | float] = asdict(self)
        last = report.pop("last_record_monotonic")
        report["last_update_age_s"] = round(time.monotonic() - last, 3) if last else -1.0
        report["pid"] = os.getpid()
        return report
