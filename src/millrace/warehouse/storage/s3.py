"""S3 (and MinIO, and moto) as object storage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from millrace.exceptions import BackendUnavailableError, NotFoundError
from millrace.warehouse.storage.base import (
    CHUNK,
    HashingReader,
    ObjectStorage,
    StoredObject,
    check_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover

__all__ = ["S3Storage"]

# s3transfer buffers a non-seekable stream's parts in memory, up to
# max_in_memory_upload_chunks of them (default 10, and the constructor does not accept the
# argument): 4 x 8 MiB bounds an upload's footprint.
_TRANSFER = TransferConfig(
    multipart_threshold=8 * CHUNK, multipart_chunksize=8 * CHUNK, max_concurrency=4
)
_TRANSFER.max_in_memory_upload_chunks = 4


class S3Storage(ObjectStorage):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        retrying = Config(
            connect_timeout=3, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}
        )
        self._s3: S3Client = boto3.client("s3", config=retrying, **options)
        # Health checks must answer fast: one attempt, short timeouts.
        quick = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1})
        self._probe: S3Client = boto3.client("s3", config=quick, **options)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"404", "NoSuchKey", "NotFound"}:
                raise NotFoundError("object not found") from exc
            raise BackendUnavailableError(f"S3 error {code}: {exc}") from exc
        except BotoCoreError as exc:
            raise BackendUnavailableError(f"S3 unreachable: {exc}") from exc

    def ensure_bucket(self) -> None:
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._call(self._s3.create_bucket, Bucket=self.bucket)
        except BotoCoreError as exc:
            raise BackendUnavailableError(f"S3 unreachable: {exc}") from exc

    def put(self, key: str, source: BinaryIO, *, limit: int | None = None) -> StoredObject:
        reader = HashingReader(source, limit)
        # A multipart upload is only visible once completed; s3transfer aborts it when the
        # reader raises, so a rejected upload leaves nothing behind.
        self._call(self._s3.upload_fileobj, reader, self.bucket, self._key(key), Config=_TRANSFER)
        return StoredObject(key=key, size_bytes=reader.size, sha256=reader.sha256)

    def iter_bytes(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        obj = self._call(self._s3.get_object, Bucket=self.bucket, Key=self._key(key))
        return obj["Body"].iter_chunks(chunk_size)  # type: ignore[no-any-return]

    def size(self, key: str) -> int:
        head = self._call(self._s3.head_object, Bucket=self.bucket, Key=self._key(key))
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        self._call(self._s3.delete_object, Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> int:
        full = self._key(prefix) + "/"
        removed = 0
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
        try:
            for page in pages:
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                    removed += len(keys)
        except (ClientError, BotoCoreError) as exc:
            raise BackendUnavailableError(f"S3 error while deleting {prefix!r}: {exc}") from exc
        return removed

    def ping(self) -> None:
        self._call(self._probe.head_bucket, Bucket=self.bucket)
