"""Records the compute stream cannot use go to the dead-letter topic, with their reason.

The raw record travels untouched in the `wire.DeadLetter`, with where it came from, so
nothing is lost and an operator can replay or inspect it. Sending waits for delivery:
a failure fails the write, and Spark retries the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from quantcore import wire
from quantcore.settings import KafkaSettings
from quantcore.timeutil import now_us

STAGE = "compute"


def dead_letter(row: Mapping[str, Any], time_us: int | None = None) -> wire.DeadLetter:
    """The dead letter of a computed row that has a `reason`."""
    return wire.DeadLetter(
        stage=STAGE,
        reason=row["reason"],
        payload=bytes(row["payload"] or b""),
        symbol=row["symbol"] or row["key"] or "",
        time_us=now_us() if time_us is None else time_us,
        source_topic=row["source_topic"] or "",
        source_partition=row["source_partition"] or 0,
        source_offset=row["source_offset"] or 0,
    )


class DeadLetterProducer:
    def __init__(self, kafka: KafkaSettings) -> None:
        from confluent_kafka import Producer

        self.topic = kafka.dead_letter_topic
        self._producer = Producer({**kafka.client_config(), "linger.ms": 0,
                                   "enable.idempotence": True, "log_level": 3})

    def send(self, letters: Iterable[wire.DeadLetter], timeout_s: float = 30.0) -> int:
        """Produce and wait for every delivery; raises if any failed."""
        errors: list[str] = []

        def delivered(error, _message) -> None:
            if error is not None:
                errors.append(str(error))

        count = 0
        for letter in letters:
            key = letter.symbol.encode() if letter.symbol else None
            self._producer.produce(self.topic, key=key, value=letter.SerializeToString(), on_delivery=delivered)
            count += 1
        remaining = self._producer.flush(timeout_s)
        if remaining or errors:
            raise RuntimeError(f"dead letters not delivered to {self.topic}: {remaining} pending, errors {errors[:3]}")
        return count
