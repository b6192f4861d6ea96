"""What a shard counts; reported with its heartbeat so health checks can read it."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field


@dataclass
class IngestCounters:
    frames: int = 0  # WebSocket frames received
    books: int = 0  # book records made (published, or kept by an A/B standby)
    records: int = 0  # book records handed to Kafka (counted by the arbiter)
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
    groups_held: int = 0  # A/B: symbol groups this shard publishes (it holds their lease)
    groups_ready: int = 0  # A/B: groups it holds or would take at once if their holder died
    leases_taken: int = 0  # A/B: group leases taken (at the start too, and from a twin that died)
    takeover_published: int = 0  # records published from what was kept, at those takeovers
    takeover_gaps: int = 0  # symbols whose kept records did not reach back to Kafka's last
    standby_dead_letters: int = 0  # dead letters of a group another shard publishes (not sent)
    trades: int = 0  # trade records made (published, or kept by an A/B standby)
    trade_records: int = 0  # trade records handed to Kafka (counted by the arbiter)
    trade_gaps: int = 0  # jumps in a symbol's trade ids (its trades were still published)
    trades_missing: int = 0  # the trade ids those jumps skipped
    trade_repeats: int = 0  # trades dropped: id not above the symbol's last (seen again at a reconnect)
    takeover_trades: int = 0  # trade records published from what was kept, at takeovers
    takeover_trade_gaps: int = 0  # symbols whose kept trades did not reach back to Kafka's last
    # {symbol: {"gaps": n, "missing": ids}} of the symbols whose trade ids jumped
    trade_gaps_by_symbol: dict[str, dict[str, int]] = field(default_factory=dict)
    last_record_monotonic: float = field(default=0.0, repr=False)  # the last book made (published or kept)

    def as_report(self) -> dict[str, int | float | dict]:
        """The heartbeat payload: counters plus pid and the age of the last record."""
        report: dict[str, int | float | dict] = asdict(self)
        last = report.pop("last_record_monotonic")
        report["last_update_age_s"] = round(time.monotonic() - last, 3) if last else -1.0
        report["pid"] = os.getpid()
        return report
