"""The seed's book records: each BookRecord as JSON, the way its ingest wrote them to Kafka.

Field for field the protobuf record (same names), levels as Binance sends them:
`[["price", "qty"], ...]` with decimal strings, the enum by name, integers as numbers.
`JsonBookFeed` offers the very books of compute.py's `BookFeed` (same symbols, 20 levels,
same update ids), so the two designs are measured on identical content.
"""

from __future__ import annotations

import json
from typing import Any

from quantcore import wire
from bench.scenarios.compute import BookFeed

# What the seed's Spark job gave `from_json`.
BOOK_SCHEMA = (
    "exchange STRING, symbol STRING, event_time_us BIGINT, update_id BIGINT, first_update_id BIGINT, "
    "ingest_time_us BIGINT, bids ARRAY<ARRAY<STRING>>, asks ARRAY<ARRAY<STRING>>, mode STRING, shard_id INT, "
    "origin STRING, simulator_seed BIGINT"
)


def book_fields(book: wire.BookRecord) -> dict[str, Any]:
    """Every field of `book` (unset ones included, as the seed's ingest wrote them)."""
    fields: dict[str, Any] = {}
    for field in wire.BookRecord.DESCRIPTOR.fields:
        value = getattr(book, field.name)
        if field.message_type is wire.PriceLevel.DESCRIPTOR:
            value = [[level.price, level.qty] for level in value]
        elif field.enum_type is not None:
            value = field.enum_type.values_by_number[value].name
        fields[field.name] = value
    return fields


def book_json(book: wire.BookRecord) -> bytes:
    return json.dumps(book_fields(book), separators=(",", ":")).encode()


def json_update_id(value: bytes) -> int:
    return json.loads(value)["update_id"]


class JsonBookFeed(BookFeed):
    """BookFeed's records, re-encoded as the seed's JSON."""

    def record(self, symbol: str) -> bytes:
        return book_json(wire.BookRecord.FromString(super().record(symbol)))
