"""msgspec Structs at the REST boundary: one per intent. JSON is camelCase, as ODK Central's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

# How long a text of a request body may be (one place; docs/limits.md).
# Names stay well under PostgreSQL's btree key size (~2,700 bytes) since they are indexed.
MAX_EMAIL_CHARS = 320
MAX_PASSWORD_CHARS = 1024
MAX_NAME_CHARS = 255
MAX_DESCRIPTION_CHARS = 10_000
MAX_COMMENT_CHARS = 100_000

Email = Annotated[str, msgspec.Meta(max_length=MAX_EMAIL_CHARS)]
Password = Annotated[str, msgspec.Meta(max_length=MAX_PASSWORD_CHARS)]
Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]
Description = Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION_CHARS)]
CommentText = Annotated[str, msgspec.Meta(max_length=MAX_COMMENT_CHARS)]


class RequestBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    pass


class SessionCreate(RequestBody):
    email: Email
    password: Password
    # for an account with two-factor login: the authenticator app's 6-digit code, or a
    # recovery code (docs/api.md)
    code: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class SessionOut(msgspec.Struct, rename="camel"):
    token: str
    expires_at: datetime
    created_at: datetime


class UserCreate(RequestBody):
    email: Email
    password: Password | None = None
    display_name: Name | None = None
    is_admin: bool = False


class UserOut(msgspec.Struct, rename="camel"):
    id: int
    type: str
    display_name: str
    email: str | None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    is_admin: bool = False
    roles: dict[str, list[str]] = {}


class ProjectCreate(RequestBody):
    name: Name
    description: Description | None = None


class ProjectUpdate(RequestBody):
    name: str | None = None
    description: str | None = None
    archived: bool | None = None


class ProjectOut(msgspec.Struct, rename="camel"):
    id: int
    name: str
    description: str | None
    created_at: datetime
    archived: bool
    key_id: int | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


class FormOut(msgspec.Struct, rename="camel"):
    project_id: int
    xml_form_id: str
    name: str | None
    version: str | None
    hash: str | None
    state: str
    created_at: datetime
    updated_at: datetime | None
    published_at: datetime | None
    enketo_id: str | None = None
    key_id: int | None = None
    draft_version: str | None = None


class FormStatePatch(RequestBody):
    state: str


class AssignmentOut(msgspec.Struct, rename="camel"):
    actor_id: int
    project_id: int
    role: str
