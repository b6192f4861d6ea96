"""A Binance-protocol exchange simulator: the platform's default, offline data source.

`model` is the pure seeded book dynamics; `protocol` the wire format; `faults` the
injectable failures; `server` the WebSocket + REST I/O; `runtime` runs it in the
foreground (`quantcore simulator`) or in a thread (`start_simulator`, for tests and bench).
"""

from streaming.simulator.faults import Fault
from streaming.simulator.runtime import SimulatorHandle, build_server, run_simulator, start_simulator
from streaming.simulator.server import SimulatorServer

__all__ = ["Fault", "SimulatorHandle", "SimulatorServer", "build_server", "run_simulator", "start_simulator"]
