"""The warehouse's HTTP API."""

from millrace.warehouse.api.app import create_app

__all__ = ["create_app"]
