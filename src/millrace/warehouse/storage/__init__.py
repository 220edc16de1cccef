"""Object storage behind one small interface: a local folder or S3/MinIO."""

from millrace.warehouse.storage.base import ObjectStorage, StoredObject, check_key
from millrace.warehouse.storage.factory import open_storage

__all__ = ["ObjectStorage", "StoredObject", "check_key", "open_storage"]
