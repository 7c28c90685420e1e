"""Webhooks: a project's subscriptions to events, delivered after the commit (the outbox).

- `create_webhook`, `list_webhooks`, `delete_webhook`, `deliveries`, `send_again`: what REST
  (`/v1/projects/{pid}/webhooks`) and the manager's page call.
- `on_events`: the outbox handler: a delivery row for each webhook the event concerns, in
  the transaction that marks the event handled (so exactly the committed events).
- `send_due_deliveries`: the sender: a JSON POST per delivery, signed with the webhook's
  secret as GitHub signs (`X-Fieldsurvey-Signature: sha256=<hex HMAC-SHA256 of the body>`),
  in order per webhook and record; a failure is tried again after FIELDSURVEY_WEBHOOK_RETRY_
  SECONDS, doubling each time (at most an hour), for FIELDSURVEY_WEBHOOK_GIVE_UP_HOURS. A
  receiver that fails is paused the same way (one delivery probes it when the pause ends), so
  that a receiver that is down costs one attempt per pause, not one per waiting delivery.

The body carries the record as REST shows it to the webhook's creator, with the creator's
rights at the time of sending: a creator who may no longer read the project's data gets
nothing sent (the delivery fails), and questions that identify a person are masked unless
the creator may read them (api/services/sensitive.py, as REST masks them).

Only `https://` to public addresses, unless FIELDSURVEY_WEBHOOKS_ALLOW_PRIVATE=1: checked when
the webhook is created and again at every delivery, where the name is resolved once, each
address checked, and the connection made to the checked address (the request keeps the name
for Host and TLS): a name that later resolves to a private address cannot reach it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import msgspec

from api.auth import Actor, actor_from_user_row, authorize
from api.i18n import N_
from api.problems import Problem
from api.scopes import row_scope
from api.services import cases as cases_service
from api.services.sensitive import form_masked_paths
from api.settings import Settings
from db import audits as audits_db
from db import scopes as scopes_db
from db import users as users_db
from db import webhooks as webhooks_db
from db.pool import pool_connection
from forms.sensitive import mask_submission_xml

log = logging.getLogger("fieldsurvey.webhooks")

EVENTS = ("submission.created", "submission.updated", "submission.reviewed", "entity.created",
          "entity.updated", "case.referred", "case.transferred")
SIGNATURE_HEADER = "X-Fieldsurvey-Signature"
SEND_AT_ONCE = 8  # deliveries in flight at once
SEND_BATCH = 4 * SEND_AT_ONCE
SEND_ROUNDS = 15  # batches at most in one turn of the worker
TIMEOUT_SECONDS = 10.0
# a batch takes at most this long (4 rounds of SEND_AT_ONCE, each within the timeout)
LEASE_SECONDS = 4 * TIMEOUT_SECONDS + 20
_encode = msgspec.json.Encoder()


# --- the address check -----------------------------------------------------------------------

class AddressRefused(ValueError):
    pass


def _allowed_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return False
    return allow_private or ip.is_global


def check_url_shape(url: str, allow_private: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL, else AddressRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"not a URL: {exc}") from None
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise AddressRefused("only https:// addresses are allowed")
    if not parts.hostname:
        raise AddressRefused("the address has no host")
    if parts.username or parts.password:
        raise AddressRefused("the address must not carry a user or password")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve_allowed(url: str, allow_private: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, ip): the URL's host resolved once, every address it resolves to
    checked (one refused address refuses the URL), and the first one to connect to."""
    scheme, host, port = check_url_shape(url, allow_private)
    try:
        ip = ipaddress.ip_address(host)
        addresses = [ip]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise AddressRefused(f"the name {host} does not resolve ({exc.strerror})") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
    if not addresses:
        raise AddressRefused(f"the name {host} does not resolve")
    for ip in addresses:
        if not _allowed_ip(ip, allow_private):
            raise AddressRefused(f"{host} is a private, loopback or reserved address ({ip})")
    return scheme, host, port, str(addresses[0])


# --- managing --------------------------------------------------------------------------------

@dataclass(frozen=True)
class WebhookIn:
    url: str
    events: list[str]
    secret: str
    forms: list[str] | None = None


async def create_webhook(conn: asyncpg.Connection, actor: Actor | None, project_id: int,
                         given: WebhookIn, settings: Settings) -> asyncpg.Record:
    actor = authorize(actor, "webhook.manage", project_id)
    events = list(dict.fromkeys(given.events))
    unknown = [e for e in events if e not in EVENTS]
    if not events or unknown:
        raise Problem("request-invalid", N_("events must name some of: %(events)s."),
                      params={"events": ", ".join(EVENTS)})
    if not 16 <= len(given.secret) <= 200:
        raise Problem("request-invalid", N_("The secret must have 16 to 200 characters."))
    if len(given.url) > 2000:
        raise Problem("webhook-url-refused")
    try:
        await resolve_allowed(given.url, settings.webhooks_allow_private)
    except AddressRefused as exc:
        raise Problem("webhook-url-refused", f"{Problem('webhook-url-refused').title} ({exc})") from None
    forms = list(dict.fromkeys(given.forms)) if given.forms else None
    async with conn.transaction():
        row = await webhooks_db.insert_webhook(conn, project_id, given.url, events, forms,
                                               given.secret, actor.id)
        await audits_db.log_audit(conn, actor.id, "webhook.create",
                                  f"webhook/{project_id}/{row['id']}",
                                  {"url": given.url, "events": events, "forms": forms})
    return row


async def list_webhooks(conn: asyncpg.Connection, actor: Actor | None, project_id: int):
    authorize(actor, "webhook.manage", project_id)
    return await webhooks_db.list_webhooks(conn, project_id)


async def get_webhook(conn: asyncpg.Connection, actor: Actor | None, project_id: int,
                      webhook_id: int):
    authorize(actor, "webhook.manage", project_id)
    row = await webhooks_db.get_webhook(conn, project_id, webhook_id)
    if row is None:
        raise Problem("webhook-not-found")
    return row


async def delete_webhook(conn: asyncpg.Connection, actor: Actor | None, project_id: int,
                         webhook_id: int) -> None:
    actor = authorize(actor, "webhook.manage", project_id)
    async with conn.transaction():
        if not await webhooks_db.delete_webhook(conn, project_id, webhook_id):
            raise Problem("webhook-not-found")
        await audits_db.log_audit(conn, actor.id, "webhook.delete",
                                  f"webhook/{project_id}/{webhook_id}")


async def deliveries(conn: asyncpg.Connection, actor: Actor | None, project_id: int,
                     webhook_id: int, *, limit: int = 100, offset: int = 0):
    await get_webhook(conn, actor, project_id, webhook_id)
    return await webhooks_db.list_deliveries(conn, webhook_id, limit, offset)


async def send_again(conn: asyncpg.Connection, actor: Actor | None, project_id: int,
                     webhook_id: int, delivery_id: int) -> None:
    """A delivered or given-up delivery is sent again (with a new day of retries)."""
    await get_webhook(conn, actor, project_id, webhook_id)
    if not await webhooks_db.resend(conn, project_id, webhook_id, delivery_id):
        raise Problem("not-found", N_("No such delivery, or it is being sent already."))


# --- the outbox handler ----------------------------------------------------------------------

async def on_events(conn: asyncpg.Connection, events: Sequence) -> None:
    """Outbox handler: a delivery for every webhook each event concerns."""
    wanted = [e.id for e in events if e.kind in EVENTS]
    if wanted:
        await webhooks_db.insert_deliveries(conn, wanted)


# --- sending ---------------------------------------------------------------------------------

def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


async def _record(conn: asyncpg.Connection, delivery, creator: Actor) -> dict[str, Any] | None:
    """The record as REST shows it to the creator (questions that identify a person masked
    unless they may read them: api/services/sensitive.py); None when it is gone."""
    details = dict(delivery["details"] or {})
    if not await scopes_db.event_in_scope(conn, delivery["subject"], details,
                                          row_scope(creator, delivery["project_id"])):
        return None  # out of the creator's row scope (api/scopes.py): as if it were gone
    if delivery["subject"].startswith("submission/"):
        row = await webhooks_db.submission_record(conn, details["submissionId"],
                                                  details["versionId"])
        if row is None:
            return None
        xml = bytes(row["xml"]) if not isinstance(row["xml"], str) else row["xml"].encode()
        paths = await form_masked_paths(conn, creator, delivery["project_id"],
                                        delivery["form_id"])
        if paths:
            xml = mask_submission_xml(xml, paths)
        return {
            "instanceId": row["instance_id"], "submitterId": row["submitter_id"],
            "deviceId": row["device_id"], "reviewState": row["review_state"],
            "createdAt": _iso(row["created_at"]), "updatedAt": _iso(row["updated_at"]),
            "version": {"instanceId": row["version_instance_id"],
                        "instanceName": row["instance_name"],
                        "deprecatedId": row["deprecated_id"], "current": row["current"],
                        "createdAt": _iso(row["version_created_at"])},
            "xml": xml.decode("utf-8"),
        }
    if delivery["subject"].startswith("entity/"):
        row = await webhooks_db.entity_record(conn, details["entityDefId"])
        if row is None:
            return None
        return {
            "uuid": str(row["uuid"]), "dataset": row["dataset"],
            "createdAt": _iso(row["created_at"]), "updatedAt": _iso(row["updated_at"]),
            "currentVersion": {"version": row["version"], "label": row["label"],
                               "data": row["data"], "current": row["current"],
                               "createdAt": _iso(row["version_created_at"]),
                               "conflictingProperties": row["conflicting_properties"]},
        }
    if delivery["subject"].startswith("case/"):  # the referral or transfer, as REST shows it
        return await cases_service.referral_record(conn, details["referralId"])
    return details


async def _creator(conn: asyncpg.Connection, user_id: int, known: dict) -> Actor | None:
    if user_id not in known:  # once per turn of the sender: rights as they are now
        user = await users_db.get_user(conn, user_id)
        known[user_id] = await actor_from_user_row(conn, user) if user is not None else None
    return known[user_id]


async def delivery_body(conn: asyncpg.Connection, delivery,
                        known: dict | None = None) -> bytes | None:
    """The JSON a delivery posts, as its webhook's creator may see it now; None when the
    record is gone or the creator may no longer read it. `known`: creators and form ids
    looked up already in this turn."""
    known = {} if known is None else known
    creator = await _creator(conn, delivery["created_by"], known.setdefault("creators", {}))
    if creator is None:
        return None
    permission = ("entity.read" if delivery["subject"].startswith("entity/")
                  else "submission.read")
    if not creator.can(permission, delivery["project_id"]):
        return None
    record = await _record(conn, delivery, creator)
    if record is None:
        return None
    details = dict(delivery["details"] or {})
    forms = known.setdefault("forms", {})
    if delivery["form_id"] and delivery["form_id"] not in forms:
        forms[delivery["form_id"]] = await conn.fetchval(
            "SELECT xml_form_id FROM forms WHERE id = $1", delivery["form_id"])
    form = forms.get(delivery["form_id"])
    body = {
        "event": delivery["event_kind"], "eventId": delivery["event_id"],
        "deliveryId": delivery["id"], "occurredAt": _iso(delivery["event_at"]),
        "project": delivery["project_id"], "form": form,
        "instanceId": record.get("instanceId"),
        "uuid": record.get("uuid") or details.get("uuid"),
        "record": record,
    }
    return _encode.encode(body)


def retry_delay(settings: Settings, attempts_before: int) -> float:
    return min(3600.0, settings.webhook_retry_seconds * 2 ** min(attempts_before, 20))


async def _post(client: httpx.AsyncClient, delivery, body: bytes,
                settings: Settings) -> tuple[int | None, str | None, bool]:
    """(status, error, final): one attempt, to the address checked now."""
    try:
        scheme, host, port, ip = await resolve_allowed(delivery["url"],
                                                       settings.webhooks_allow_private)
    except AddressRefused as exc:
        return None, f"refused: {exc}", False
    parts = urlsplit(delivery["url"])
    literal = f"[{ip}]" if ":" in ip else ip
    target = urlunsplit((scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    headers = {
        "Host": parts.netloc, "Content-Type": "application/json",
        "User-Agent": "fieldsurvey-webhooks", "X-Fieldsurvey-Event": delivery["event_kind"],
        "X-Fieldsurvey-Delivery": str(delivery["id"]),
        SIGNATURE_HEADER: signature(delivery["secret"], body),
    }
    try:
        response = await client.post(target, content=body, headers=headers,
                                     extensions={"sni_hostname": host})
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], False
    if 200 <= response.status_code < 300:
        return response.status_code, None, False
    return response.status_code, f"HTTP {response.status_code}", False


async def _deliver(pool: asyncpg.Pool, client: httpx.AsyncClient, delivery,
                   settings: Settings, failing: set[int], known: dict) -> None:
    """One attempt of one delivery. `failing`: the webhooks whose receiver failed in this
    turn: their other deliveries are put back untried (the webhook is paused)."""
    if delivery["webhook_id"] in failing:
        async with pool_connection(pool) as conn:
            await webhooks_db.release(conn, delivery["id"])
        return
    async with pool_connection(pool) as conn:
        body = await delivery_body(conn, delivery, known)
    if body is None:
        async with pool_connection(pool) as conn:
            await webhooks_db.mark_attempt_failed(
                conn, delivery["id"], None,
                "the record is gone, or the webhook's creator may no longer read it", 0, True)
        return
    status, error, final = await _post(client, delivery, body, settings)
    async with pool_connection(pool) as conn:
        if error is None:
            await webhooks_db.mark_delivered(conn, delivery["id"], status)
            await webhooks_db.resume_webhook(conn, delivery["webhook_id"])
            return
        failing.add(delivery["webhook_id"])
        await webhooks_db.pause_webhook(conn, delivery["webhook_id"],
                                        settings.webhook_retry_seconds)
        now = await conn.fetchval("SELECT clock_timestamp()")
        give_up = final or (now - delivery["retry_from"]).total_seconds() > (
            settings.webhook_give_up_hours * 3600)
        await webhooks_db.mark_attempt_failed(
            conn, delivery["id"], status, error, retry_delay(settings, delivery["attempts"]),
            give_up)


async def send_due_deliveries(pool: asyncpg.Pool, settings: Settings) -> int:
    """Send the deliveries that are due (a sender of the outbox worker; safe in every
    process: each delivery is leased while it is sent). Returns how many were tried."""
    async with pool_connection(pool) as conn:
        due = await webhooks_db.claim_due(conn, SEND_BATCH, LEASE_SECONDS)
    if not due:
        return 0
    limit = asyncio.Semaphore(SEND_AT_ONCE)
    failing: set[int] = set()
    known: dict = {}
    tried = 0
    # no proxies from the environment, no redirects: the checked address is the one reached
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False,
                                 trust_env=False) as client:

        async def one(delivery) -> None:
            async with limit:
                try:
                    await _deliver(pool, client, delivery, settings, failing, known)
                except (asyncpg.PostgresError, OSError):
                    log.exception("webhook delivery %s failed", delivery["id"])

        for _ in range(SEND_ROUNDS):  # a backlog: a few batches, then the outbox's turn
            await asyncio.gather(*(one(d) for d in due))
            tried += len(due)
            if len(due) < SEND_BATCH:
                break
            async with pool_connection(pool) as conn:
                due = await webhooks_db.claim_due(conn, SEND_BATCH, LEASE_SECONDS)
    return tried


def new_secret() -> str:
    return secrets.token_urlsafe(32)
