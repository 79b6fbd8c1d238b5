"""The agent tests' fixtures beyond tests/sandbox.py: `faults` (tests/agentrun.py)."""

from agentrun import faults

__all__ = ["faults"]
