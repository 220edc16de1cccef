"""The inference server: every champion online, hot-swapped on promotion."""

from millrace.serving.app import ServeOptions, create_serving_app

__all__ = ["ServeOptions", "create_serving_app"]
