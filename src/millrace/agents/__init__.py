"""Agents: plain handler functions over events, each run by the shared consumer runner."""

from millrace.agents.registry import AGENTS, subscription

__all__ = ["AGENTS", "subscription"]
