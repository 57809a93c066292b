"""Internal monitors: the Alertmanager webhook adapter and a Python API for in-process monitors."""

from producers.monitors.producer import MonitorProducer

__all__ = ["MonitorProducer"]
