"""Pick a storage backend from ``MILLRACE_STORAGE_URL``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from millrace.exceptions import ConfigError
from millrace.settings import Settings
from millrace.warehouse.storage.base import ObjectStorage
from millrace.warehouse.storage.local import LocalStorage

__all__ = ["open_storage"]


def open_storage(settings: Settings) -> ObjectStorage:
    url = settings.resolved_storage_url
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from millrace.warehouse.storage.s3 import S3Storage

        if not parsed.netloc:
            raise ConfigError(f"MILLRACE_STORAGE_URL={url!r} has no bucket (s3://bucket/prefix)")
        storage = S3Storage(
            parsed.netloc,
            parsed.path,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=(
                settings.s3_secret_access_key.get_secret_value()
                if settings.s3_secret_access_key
                else None
            ),
        )
        storage.ensure_bucket()
        return storage
    if parsed.scheme in {"", "file"}:
        return LocalStorage(Path(parsed.path if parsed.scheme == "file" else url))
    raise ConfigError(f"MILLRACE_STORAGE_URL={url!r}: expected a folder, file:// or s3:// URL")
