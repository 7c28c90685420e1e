"""The S3 store (FIELDSURVEY_ATTACHMENTS=s3://bucket/prefix?endpoint=URL&region=R): files as
objects of an S3-compatible bucket (AWS, MinIO, Ceph, Garage, ...), through boto3, so that
every app server reads every file. Credentials come from boto3's usual places
(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, ~/.aws/credentials), never
from the URL. boto3's client is thread-safe; its blocking calls run in threads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from api.storage import S3Location, blob_key, check_key, is_key


class S3AttachmentStore:
    kind = "s3"

    def __init__(self, location: S3Location):
        self.location = location
        config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=16,
            # S3-compatible servers (MinIO, moto) are addressed by path, AWS by host name
            s3={"addressing_style": "path" if location.endpoint else "auto"},
        )
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=location.endpoint, region_name=location.region, config=config
        )

    def _name(self, key: str) -> str:
        return self.location.prefix + check_key(key)

    @staticmethod
    def _missing(exc: ClientError) -> bool:
        return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")

    async def put(self, data: bytes, conn=None) -> str:
        key = blob_key(data)
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.location.bucket, Key=self._name(key), Body=data,
            ContentType="application/octet-stream",
        )
        return key

    def _get_sync(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.location.bucket, Key=self._name(key))
        except ClientError as exc:
            if self._missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        with answer["Body"] as body:
            return body.read()

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get_sync, key)

    def _exists_sync(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=self._name(key))
        except ClientError as exc:
            if self._missing(exc):
                return False
            raise
        return True

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._exists_sync, key)

    async def delete(self, key: str, conn=None) -> None:
        await asyncio.to_thread(
            self.client.delete_object, Bucket=self.location.bucket, Key=self._name(key))

    async def keys(self) -> AsyncIterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self.location.prefix)
        iterator = iter(pages)
        while (page := await asyncio.to_thread(next, iterator, None)) is not None:
            for item in page.get("Contents", []):
                name = item["Key"][len(self.location.prefix):]
                if is_key(name):
                    yield name

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)

    def __repr__(self) -> str:
        return f"s3://{self.location.bucket}/{self.location.prefix}"
