"""The last update id Kafka holds per symbol: where a shard taking over a group continues.

Reads the book topic from a point in time up to the end of every partition, and decodes
only the wanted symbols' records. A takeover waits on this read, so the consumer is kept
open from the shard's start, and it first reads just the last `RECENT_S` (every live symbol
has a record in it: books arrive every 100 ms), going back to the whole window only for the
symbols that had none. The recent part is enough because a symbol's records in Kafka only
ever increase (the arbiter publishes each update id once, in order), so its last record
holds its highest id.

The trade topic is read the same way for the last trade id per symbol (`id_of=trade_id`);
trades are sparser, so more symbols take the second, whole-window read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from quantcore import wire
from quantcore.settings import KafkaSettings
from quantcore.timeutil import now_us
from quantcore.topic_reader import TopicReader

RECENT_S = 1.0


def book_update_id(value: bytes) -> int:
    return wire.BookRecord.FromString(value).update_id


def trade_id(value: bytes) -> int:
    return wire.TradeRecord.FromString(value).trade_id


class KafkaTail:
    def __init__(self, kafka: KafkaSettings, topic: str, timeout_s: float = 10.0,
                 id_of: Callable[[bytes], int] = book_update_id) -> None:
        self._reader = TopicReader(kafka, topic)
        self._id_of = id_of
        self._timeout_s = timeout_s
        self._lock = threading.Lock()  # a stopping shard closes it while a takeover's thread may still read
        threading.Thread(target=self._warm, name="kafka-tail-warm", daemon=True).start()

    def _warm(self) -> None:
        """Connect and learn the partitions now, not when a takeover waits (~80 ms cold)."""
        with self._lock:
            try:
                self._reader.ends()
            except Exception:  # noqa: BLE001 - best effort: the takeover's own read reports a real failure
                pass

    def close(self) -> None:
        with self._lock:
            self._reader.close()

    def last_update_ids(self, symbols: Iterable[str], since_ms: int) -> dict[str, int]:
        """Per symbol of `symbols`, the highest id (`id_of`) in the topic among records written
        at or after `since_ms` (epoch ms); a symbol with none is absent."""
        with self._lock:
            return self._last_ids_since(wanted={symbol.upper() for symbol in symbols}, since_ms=since_ms)

    def _last_ids_since(self, wanted: set[str], since_ms: int) -> dict[str, int]:
        recent_ms = max(since_ms, now_us() // 1000 - int(RECENT_S * 1000))
        last = self._last_ids(wanted, recent_ms)
        missing = wanted - set(last)
        if missing and recent_ms > since_ms:
            last.update(self._last_ids(missing, since_ms))
        return last

    def _last_ids(self, symbols: set[str], since_ms: int) -> dict[str, int]:
        keys = {symbol.encode() for symbol in symbols}
        id_of = self._id_of
        last: dict[str, int] = {}
        for message in self._reader.read_to_end(since_ms=since_ms, timeout_s=self._timeout_s):
            key = message.key()
            if key in keys:
                symbol = key.decode()
                last[symbol] = max(id_of(message.value()), last.get(symbol, -1))
        return last
