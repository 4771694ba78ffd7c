"""planner: the cheapest accelerators and quantisation that run a model within a target."""

__version__ = "0.1.0"
