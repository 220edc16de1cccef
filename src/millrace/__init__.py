"""Millrace: self-hosted, event-driven MLOps for tabular and time-series data."""

from millrace.exceptions import MillraceError
from millrace.settings import Settings

__version__ = "0.1.0"

__all__ = ["MillraceError", "Settings", "__version__"]
