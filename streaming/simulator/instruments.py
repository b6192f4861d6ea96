"""Instruments of the simulated exchange: a reference price, tick and lot size per symbol.

Prices and quantities are integers in units of 1e-8 (Binance prints 8 decimals), so
the model never rounds and every string it prints is exact.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

UNITS = 100_000_000  # 1e8: the smallest price/qty increment Binance prints

# symbol: (reference price, tick size, lot size), roughly the live exchange's.
KNOWN = {
    "BTCUSDT": (65000, "0.01", "0.00001"), "ETHUSDT": (3500, "0.01", "0.0001"),
    "BNBUSDT": (600, "0.01", "0.001"), "SOLUSDT": (150, "0.01", "0.001"),
    "XRPUSDT": (0.6, "0.0001", "1"), "DOGEUSDT": (0.15, "0.00001", "1"),
    "ADAUSDT": (0.45, "0.0001", "0.1"), "TRXUSDT": (0.12, "0.00001", "0.1"),
    "AVAXUSDT": (35, "0.01", "0.01"), "LINKUSDT": (15, "0.01", "0.01"),
    "DOTUSDT": (7, "0.001", "0.01"), "MATICUSDT": (0.7, "0.0001", "0.1"),
    "LTCUSDT": (80, "0.01", "0.001"), "BCHUSDT": (450, "0.1", "0.001"),
    "SHIBUSDT": (0.000025, "0.00000001", "1"), "UNIUSDT": (10, "0.001", "0.01"),
    "ATOMUSDT": (8, "0.001", "0.01"), "XLMUSDT": (0.11, "0.00001", "1"),
    "ETCUSDT": (25, "0.01", "0.01"), "FILUSDT": (5, "0.001", "0.01"),
    "APTUSDT": (9, "0.001", "0.01"), "ARBUSDT": (0.9, "0.0001", "0.1"),
    "OPUSDT": (2, "0.001", "0.01"), "NEARUSDT": (5, "0.001", "0.1"),
    "ICPUSDT": (10, "0.001", "0.01"), "HBARUSDT": (0.08, "0.00001", "1"),
    "VETUSDT": (0.03, "0.00001", "0.1"), "INJUSDT": (25, "0.01", "0.01"),
    "SUIUSDT": (1.5, "0.0001", "0.1"), "AAVEUSDT": (100, "0.01", "0.001"),
}


@dataclass(frozen=True)
class Instrument:
    symbol: str
    tick_units: int  # tick size in 1e-8 units
    lot_units: int  # lot size in 1e-8 units
    ref_ticks: int  # reference price in ticks
    typical_lots: int  # a typical level quantity (about 10k USDT) in lots


def to_units(decimal_text: str) -> int:
    whole, _, frac = decimal_text.partition(".")
    return int(whole) * UNITS + int((frac + "0" * 8)[:8])


def format_units(units: int) -> str:
    """1e-8 units as Binance prints them: always 8 decimals, e.g. '65000.01000000'."""
    return f"{units // UNITS}.{units % UNITS:08d}"


def instrument(symbol: str) -> Instrument:
    symbol = symbol.upper()
    if symbol in KNOWN:
        price, tick, lot = KNOWN[symbol]
        tick_units, lot_units = to_units(tick), to_units(lot)
    else:  # an unknown symbol gets a stable made-up price between 0.001 and 10,000
        digest = int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:4], "big")
        price = 10 ** (digest % 700 / 100 - 3)
        tick_units = max(1, 10 ** (math.floor(math.log10(price)) - 4 + 8))
        lot_units = UNITS // 100
    ref_ticks = max(1000, round(price * UNITS / tick_units))
    price_units = ref_ticks * tick_units
    typical_lots = max(1, round(10_000 * UNITS / price_units * UNITS / lot_units))
    return Instrument(symbol, tick_units, lot_units, ref_ticks, typical_lots)
