"""A streaming query's last progress as flat heartbeat counters (pure, no Spark needed)."""

from __future__ import annotations

import json
from typing import Any


def progress_dict(progress: Any) -> dict | None:
    """`query.lastProgress` (a StreamingQueryProgress, a dict, or None) as a plain dict."""
    if progress is None:
        return None
    raw = getattr(progress, "json", None)
    if raw is not None:
        return json.loads(raw() if callable(raw) else raw)
    return dict(progress)


def _offsets(value: Any) -> dict[str, int]:
    """{"topic": {"0": 12, ...}} (maybe as a JSON string) -> {"topic/0": 12, ...}."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if not isinstance(value, dict):
        return {}
    return {f"{topic}/{partition}": int(offset)
            for topic, partitions in value.items() if isinstance(partitions, dict)
            for partition, offset in partitions.items()}


def progress_counters(progress: dict | None) -> dict[str, Any]:
    """Input and processing rates, batch duration and offsets of the last progress."""
    if not progress:
        return {"batch_id": -1}
    sources = progress.get("sources") or [{}]
    latest = {}
    for source in sources:
        latest.update(_offsets(source.get("latestOffset") or source.get("endOffset")))
    durations = progress.get("durationMs") or {}
    return {
        "batch_id": progress.get("batchId", -1),
        "input_rows": progress.get("numInputRows", 0),
        "input_rows_per_s": round(float(progress.get("inputRowsPerSecond") or 0.0), 1),
        "processed_rows_per_s": round(float(progress.get("processedRowsPerSecond") or 0.0), 1),
        "batch_duration_ms": durations.get("triggerExecution", 0),
        # where a batch's time went (addBatch, commitOffsets, latestOffset, walCommit, ...):
        # with the real-time trigger a batch is a checkpoint interval, and its boundary a pause
        "batch_phases_ms": {phase: int(ms) for phase, ms in durations.items() if phase != "triggerExecution"},
        "latest_offsets": latest,
        "latest_offset_total": sum(latest.values()),
    }
