"""A dataset version in seed 004's metadata shape, for the events partners read.

Seed 004's partners read this shape twice: nested under ``"dataset"`` on ``dataset-events``
and as ``"metadata"`` on ``bias-trigger-events``, which the seed filled with the body of
``GET /datasets/{user_id}/{dataset_id}``. It follows the seed routes' ``DatasetResponse``
(api/seed/shapes.py) value for value, and a test holds the two together: events are built
in the service layer, which must not import the API's models. ``file_hash`` is Millrace's
SHA-256 (the seed's was MD5); ``file_path`` is the logical ``datasets/{user}/{id}/v{n}/{file}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from millrace.warehouse.ids import version_label
from millrace.warehouse.models import Asset, AssetVersion

__all__ = ["dataset_event_body", "dataset_metadata", "is_folder"]


def is_folder(version: AssetVersion) -> bool:
    """Several files, or a nested path, can only have come from a zipped folder."""
    return version.file_count > 1 or any("/" in f.path for f in version.files)


def _ext(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _when(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dataset_metadata(asset: Asset, version: AssetVersion) -> dict[str, Any]:
    """The seed's ``DatasetMetadata`` of one version (its Mongo ``_id`` aside)."""
    folder = is_folder(version)
    files = list(version.files)
    prefix = f"datasets/{asset.owner_id}/{asset.asset_id}/{version_label(version.version)}/"
    schema = None if folder or not files else files[0].table_schema
    table = schema if schema and "columns" in schema else None
    custom = dict((version.attributes or {}).get("custom_metadata") or {})
    if folder:
        custom.setdefault("file_count", version.file_count)
    return {
        "dataset_id": asset.asset_id,
        "user_id": asset.owner_id,
        "name": asset.name,
        "description": asset.description or None,
        "version": version_label(version.version),
        "file_type": ", ".join(sorted({_ext(f.path) for f in files})),
        "file_size": version.size_bytes,
        "original_filename": f"{asset.asset_id}.zip" if folder else files[0].path,
        "files": [
            {
                "filename": f.path,
                "file_path": prefix + f.path,
                "file_size": f.size_bytes,
                "file_type": _ext(f.path),
                "file_hash": f.sha256,
                "content_type": f.content_type,
            }
            for f in files
        ]
        if folder
        else None,
        "is_folder": folder,
        "columns": list(table["columns"]) if table else None,
        "row_count": table.get("row_count") if table else None,
        "data_types": {str(k): str(v) for k, v in table.get("dtypes", {}).items()}
        if table
        else None,
        "tags": list(asset.tags or []),
        "custom_metadata": custom,
        "created_at": _when(version.created_at),
        "updated_at": _when(asset.updated_at),
        "file_hash": None if folder else files[0].sha256,
    }


def dataset_event_body(asset: Asset, version: AssetVersion) -> dict[str, Any]:
    """The ``"dataset"`` object of a ``dataset-events`` message: the metadata with the
    storage path and file count instead of the file list, as the seed sent it."""
    body = dataset_metadata(asset, version)
    del body["files"]
    prefix = f"datasets/{asset.owner_id}/{asset.asset_id}/{body['version']}/"
    single = len(version.files) == 1 and not body["is_folder"]
    body["file_path"] = prefix + version.files[0].path if single else prefix
    body["file_count"] = version.file_count
    return body
