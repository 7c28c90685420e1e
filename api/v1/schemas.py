"""msgspec Structs at the REST boundary: one per intent. JSON is camelCase, as ODK Central's."""

from __future__ import annotations

from datetime import datetime

import msgspec


class RequestBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    pass


class SessionCreate(RequestBody):
    email: str
    password: str


class SessionOut(msgspec.Struct, rename="camel"):
    token: str
    expires_at: datetime
    created_at: datetime


class UserCreate(RequestBody):
    email: str
    password: str | None = None
    display_name: str | None = None
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
    name: str
    description: str | None = None


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
