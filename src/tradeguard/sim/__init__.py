"""A local Binance-compatible exchange (spot and USD-M perpetuals) for tests and demos.

The unmodified ccxt ``binance`` / ``binanceusdm`` classes talk to it over 127.0.0.1.
"""

from tradeguard.sim.config import SimulatorConfig
from tradeguard.sim.engine import Engine
from tradeguard.sim.faults import FaultRule
from tradeguard.sim.runner import SimulatorHandle, SimulatorThread, start_simulator

__all__ = [
    "Engine",
    "FaultRule",
    "SimulatorConfig",
    "SimulatorHandle",
    "SimulatorThread",
    "start_simulator",
]
