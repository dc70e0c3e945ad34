"""Buses by ``[bus] type``: ``memory`` (embedded) or ``mqtt`` (scale-out)."""

from __future__ import annotations

from sentinel.bus.base import Bus, Envelope
from sentinel.config import BusConfig

__all__ = ["Bus", "Envelope", "build_bus"]


def build_bus(config: BusConfig, *, role: str = "all") -> Bus:
    if config.type == "mqtt":
        from sentinel.bus.mqtt import MqttBus

        return MqttBus(config, role=role)
    from sentinel.bus.memory import MemoryBus

    return MemoryBus(config.max_size)
