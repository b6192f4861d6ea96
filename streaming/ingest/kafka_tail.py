"""The last update id Kafka holds per symbol: where a shard taking over a group continues.

Reads the book topic from a point in time (the start of what the standby kept, and a
margin) up to the end of every partition, and decodes only the wanted symbols' records.
"""

from __future__ import annotations

from collections.abc import Iterable

from quantcore import wire
from quantcore.settings import KafkaSettings
from quantcore.topic_reader import read_to_end


def last_update_ids(kafka: KafkaSettings, topic: str, symbols: Iterable[str], since_ms: int,
                    timeout_s: float = 10.0) -> dict[str, int]:
    """Per symbol of `symbols`, the highest update id in `topic` among records written at or
    after `since_ms` (epoch ms); a symbol with none is absent."""
    wanted = {symbol.upper().encode() for symbol in symbols}
    last: dict[str, int] = {}
    for message in read_to_end(kafka, topic, since_ms=since_ms, timeout_s=timeout_s):
        key = message.key()
        if key in wanted:
            symbol = key.decode()
            last[symbol] = max(wire.BookRecord.FromString(message.value()).update_id, last.get(symbol, -1))
    return last
