"""Which process to kill for a component of a running platform, and when it is back.

The local services (broker, Redis) are found by their pid files, the streams by their
heartbeats in Redis (each carries its pid) and the compute query by its lock file, whose
holder is the active driver (a standby waits on the same lock).
"""

from __future__ import annotations

import time

from quantcore.clients import redis_client
from quantcore.errors import PlatformError
from quantcore.heartbeats import read_heartbeats
from quantcore.settings import Settings
from quantcore_platform.chaos.verdict import CLUSTER_COMPONENTS
from quantcore_platform.services import platform
from quantcore_platform.services.process import pid_alive
from streaming.ingest.sharding import shard_groups
from streaming.spark.compute_job import query_lock, query_lock_owner, standby_marker

INGEST_VICTIM = "ingest:shard-1"  # among equals, a shard but 0 (shard 0 is all there is with one shard)
FRESH_HEARTBEAT_S = 5.0
SERVICES = ("redis", "kafka", *CLUSTER_COMPONENTS)  # platform components of the same name


def victim_pid(settings: Settings, component: str) -> int:
    """The pid that `component`'s kill -9 targets now."""
    if component in SERVICES:
        pid = _service_pid(settings, component)
    elif component == "compute":
        pid = _compute_pid(settings)
    else:
        pid = _stream_pid(settings, component)
    if not pid:
        raise PlatformError(f"no running {component} process found",
                            "start the platform first (`quantcore up -d`), and check `quantcore status`")
    return pid


def back(settings: Settings, component: str, killed_pid: int, replaced: bool = True) -> bool:
    """Whether another process now does the killed one's work (and, for services, is healthy);
    with `replaced` False (a paused process let go), whether it does its work again itself."""
    try:
        pid = victim_pid(settings, component)
    except Exception:  # noqa: BLE001 - Redis or the broker still down: not back yet
        return False
    return (pid != killed_pid or not replaced) and pid_alive(pid)


def kafka_pending(settings: Settings) -> dict[str, int]:
    """{shard: records its producer holds for Kafka} from the ingest heartbeats (Redis must be up)."""
    try:
        shards = _shard_beats(settings)
    except Exception:  # noqa: BLE001 - best effort: a report line, not a verdict
        return {}
    return {f"shard-{i}": int(beat.get("kafka_pending", 0)) for i, beat in sorted(shards.items())}


def redundant(settings: Settings, component: str) -> bool:
    """Whether the component's designed redundancy is in place: for compute, a standby driver
    that has prepared its query and waits on the lock; for ingest with twins, every shard up
    and ready for both its groups (a shard restarted by the last kill syncs its books first:
    killing its twin before that is a double fault). Other components need nothing."""
    if component == "ingest":
        return _twins_ready(settings)
    if component != "compute":
        return True
    try:
        pid = int(standby_marker(query_lock(settings, settings.compute.trigger_mode)).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return pid_alive(pid)


def _twins_ready(settings: Settings) -> bool:
    shards = settings.ingest.shards
    if not settings.ingest.twin or shards < 2:
        return True
    beats = _shard_beats(settings)
    return all(i in beats and beats[i].get("groups_ready", 0) >= len(shard_groups(i, shards, True))
               for i in range(shards))


def _shard_beats(settings: Settings) -> dict[int, dict]:
    """{shard id: its fresh heartbeat} (the beats are named `ingest:shard-<i>`)."""
    prefix = "ingest:shard-"
    return {int(name[len(prefix):]): beat for name, beat in _fresh_beats(settings, "ingest").items()
            if name.startswith(prefix) and name[len(prefix):].isdigit()}


def _service_pid(settings: Settings, name: str) -> int | None:
    (found,) = platform.status(settings, only=[name])
    if not found.managed:
        raise PlatformError(f"{name} is external here: chaos kills only what `quantcore up` started",
                            f"leave out {name}, or run against a platform that manages it")
    return found.pid if found.healthy else None


def _compute_pid(settings: Settings) -> int | None:
    return query_lock_owner(query_lock(settings, settings.compute.trigger_mode))


def _fresh_beats(settings: Settings, component: str) -> dict[str, dict]:
    beats = read_heartbeats(redis_client(settings.redis), component)
    return {name: beat for name, beat in beats.items()
            if time.time() - beat.get("ts_us", 0) / 1e6 < FRESH_HEARTBEAT_S and beat.get("pid")}


def _stream_pid(settings: Settings, component: str) -> int | None:
    fresh = _fresh_beats(settings, component)
    if component == "ingest":  # a shard publishing the most groups: killing a standby proves nothing
        beat = max(fresh.values(), key=lambda b: (b.get("groups_held", 1), b is fresh.get(INGEST_VICTIM)),
                   default=None)
    else:  # serve: the first server process
        beat = fresh[min(fresh)] if fresh else None
    return int(beat["pid"]) if beat else None
