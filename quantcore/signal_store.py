"""The Redis contract between the compute stream (writer) and the gRPC servers (readers).

- `qc:sig:{SYMBOL}`: a hash with the latest signals of a symbol, its `update_id`, and
  `msg`, the serialized `SignalUpdate` that was published (servers forward these bytes).
- `qc:updates`: a channel carrying each accepted `SignalUpdate`.
- `qc:symbols`: the set of symbols with signals.
- Trade flow, the same shape: `qc:trade_flow:{SYMBOL}` (the newest `TradeFlow`, its trade id as
  `update_id`), the channel `qc:trade_flow` and the set `qc:trade_flow:symbols`, written by the
  compute process's trade-flow writer (streaming/spark/trade_flow.py) with the same script.

One Lua script does the write: it updates the hash and publishes only when the incoming
update id is newer than the stored one, atomically. Replays, restarts from a checkpoint and
out-of-order batches can therefore never move a symbol backwards or publish a stale value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis

from quantcore.wire import Origin, SignalUpdate
from quantcore.timeutil import now_us

KEY_PREFIX = "qc:sig:"
UPDATES_CHANNEL = "qc:updates"
SYMBOLS_KEY = "qc:symbols"
FLOW_CHANNEL = "qc:trade_flow"
FLOW_KEY_PREFIX = "qc:trade_flow:"
FLOW_SYMBOLS_KEY = "qc:trade_flow:symbols"

# Update ids are compared as decimal strings (length, then lexicographic): exact for any
# int64, where Lua's doubles would round above 2^53.
_NEWER = """
local function newer(incoming, stored)
  return #incoming > #stored or (#incoming == #stored and incoming > stored)
end
"""
_WRITE = """
-- Signals absent from this update (e.g. a side went empty) must not keep an old value.
local absent = tonumber(ARGV[4])
if absent > 0 then
  redis.call('HDEL', KEYS[1], unpack(ARGV, 5, 4 + absent))
end
redis.call('HSET', KEYS[1], 'update_id', ARGV[1], 'msg', ARGV[2], unpack(ARGV, 5 + absent))
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[3], ARGV[2])
return 1
"""
WRITE_IF_NEWER = _NEWER + """
local stored = redis.call('HGET', KEYS[1], 'update_id')
if stored and not newer(ARGV[1], stored) then
  return 0
end
""" + _WRITE
# A chained writer's write (OFI is against the book before): its last argument, removed
# here, is the update id it found stored ('' for none) and chained from. Stored meanwhile
# by another writer (a standby taking over), -1 says so and nothing is written: the writer
# reads the stored book and chains again. Otherwise as WRITE_IF_NEWER.
WRITE_IF_UNMOVED = _NEWER + """
local expected = table.remove(ARGV)
local stored = redis.call('HGET', KEYS[1], 'update_id') or ''
if stored ~= expected then
  if stored == '' or newer(ARGV[1], stored) then
    return -1
  end
  return 0
end
if stored ~= '' and not newer(ARGV[1], stored) then
  return 0
end
""" + _WRITE

_SIGNALS = SignalUpdate.DESCRIPTOR.fields_by_name["signals"].message_type
SIGNAL_FIELDS = tuple(field.name for field in _SIGNALS.fields)
# Repeated signals (`ofi_levels`) have no presence: absent means empty. In the hash they
# read as a compact JSON list.
LIST_SIGNAL_FIELDS = tuple(field.name for field in _SIGNALS.fields if field.label == field.LABEL_REPEATED)
TIME_FIELDS = tuple(field.name for field in SignalUpdate.DESCRIPTOR.fields_by_name["times"].message_type.fields)


def signal_key(symbol: str) -> str:
    return f"{KEY_PREFIX}{symbol}"


def flow_key(symbol: str) -> str:
    return f"{FLOW_KEY_PREFIX}{symbol}"


def has_signal(signals, name: str) -> bool:
    return len(getattr(signals, name)) > 0 if name in LIST_SIGNAL_FIELDS else signals.HasField(name)


def readable_fields(update: SignalUpdate) -> list[str]:
    """Flat field/value pairs so `HGETALL qc:sig:BTCUSDT` reads well without protobuf."""
    pairs = ["exchange", update.exchange, "origin", Origin.Name(update.origin),
             "simulator_seed", str(update.simulator_seed)]
    for name in SIGNAL_FIELDS:
        if name in LIST_SIGNAL_FIELDS:
            values = getattr(update.signals, name)
            if values:
                pairs += [name, "[" + ",".join(map(repr, values)) + "]"]
        elif update.signals.HasField(name):
            pairs += [name, repr(getattr(update.signals, name))]
    for name in TIME_FIELDS:
        pairs += [name, str(getattr(update.times, name))]
    return pairs


class SignalStore:
    """Writes and reads the latest signals per symbol through the contract above."""

    script = WRITE_IF_NEWER

    def __init__(self, client: redis.Redis, channel: str = UPDATES_CHANNEL) -> None:
        self.client = client
        self.channel = channel
        self._write = client.register_script(self.script)

    def _args(self, update: SignalUpdate, extra_fields: Sequence[str]) -> tuple[list[str], list]:
        update.times.publish_us = now_us()  # as late as it can be: the bytes carry it
        keys = [signal_key(update.symbol), SYMBOLS_KEY, self.channel]
        absent = [name for name in SIGNAL_FIELDS if not has_signal(update.signals, name)]
        return keys, [str(update.update_id), update.SerializeToString(), update.symbol, len(absent), *absent,
                      *readable_fields(update), *extra_fields]

    def write(self, update: SignalUpdate, extra_fields: Sequence[str] = ()) -> bool:
        """True if the update was newer and has been stored and published. `extra_fields`
        (field, value, ...) are stored in the same atomic write."""
        keys, args = self._args(update, extra_fields)
        return bool(self._write(keys=keys, args=args))

    def write_many(self, updates: Iterable[SignalUpdate | tuple[SignalUpdate, Sequence[str]]]) -> int:
        """Pipelined writes (one round trip) of updates, or (update, extra fields) pairs;
        returns how many were accepted."""
        items = [item if isinstance(item, tuple) else (item, ()) for item in updates]
        return sum(int(accepted) for accepted in self._results(items))

    def _results(self, items: list[tuple[SignalUpdate, Sequence[str]]]) -> list:
        """The script's reply to each item, in one round trip."""
        if not items:
            return []
        try:
            return self._send(items)
        except redis.exceptions.NoScriptError:
            # Redis restarted or flushed its scripts: no write ran (all are the same
            # script); load it and send again (write-if-newer makes a resend harmless).
            self.client.script_load(self.script)
            return self._send(items)

    def _send(self, items: list[tuple[SignalUpdate, Sequence[str]]]) -> list:
        """EVALSHA straight away: a pipelined `Script` call would first ask `SCRIPT EXISTS`,
        a round trip more per write."""
        pipe = self.client.pipeline(transaction=False)
        for update, extra in items:
            keys, args = self._args(update, extra)
            pipe.evalsha(self._write.sha, len(keys), *keys, *args)
        return pipe.execute()

    def symbols(self) -> list[str]:
        return sorted(member.decode() for member in self.client.smembers(SYMBOLS_KEY))

    def snapshot(self, symbols: Iterable[str] | None = None) -> dict[str, bytes]:
        """The serialized latest `SignalUpdate` of each symbol that has one."""
        wanted = list(symbols) if symbols else self.symbols()
        pipe = self.client.pipeline(transaction=False)
        for symbol in wanted:
            pipe.hget(signal_key(symbol), "msg")
        return {symbol: msg for symbol, msg in zip(wanted, pipe.execute()) if msg is not None}

    def latest(self, symbol: str) -> SignalUpdate | None:
        raw = self.client.hget(signal_key(symbol), "msg")
        return SignalUpdate.FromString(raw) if raw is not None else None
