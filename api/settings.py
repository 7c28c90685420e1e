"""Deployment settings, read from the environment once and passed in (create_app(settings)).

Each setting is one `setting(...)` entry in the Settings class below: its default, its
environment variable and what it means. `Settings.from_env` reads every entry (the type of the
field says how to parse it), and docs/configuration.md's table is generated from the entries
(`make docs`; tests/unit/test_docs.py fails while it is stale). A new setting is one entry.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# FIELDSURVEY_REQUIRE_2FA: whom two-factor login is required of (api/auth.py
# `second_factor_required` says who that is)
REQUIRE_2FA_CHOICES = ("off", "admins", "managers", "all")


def setting(
    default: Any, env: str, meaning: str, *, shown: str | None = None, secret: bool = False
) -> Any:
    """A documented setting read from the environment variable `env`; `shown` is the default
    as the docs give it (markdown) when the value itself would not say it (e.g. "generated");
    a `secret` is left out of the repr."""
    return field(default=default, repr=not secret,
                 metadata={"env": env, "meaning": meaning, "shown": shown})


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("not 1 or 0")


# how a field's annotation is read from its environment variable (an empty variable is unset)
_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str, "str | None": str, "int": int, "float": float, "bool": _flag, "Path": Path,
}


@dataclass(frozen=True)
class Settings:
    database_url: str | None = setting(
        None, "DATABASE_URL",
        "a PostgreSQL URL; when unset an embedded PostgreSQL (PyPI `pgserver`) runs in "
        "`$FIELDSURVEY_DATA_DIR/pg`",
    )
    read_database_url: str | None = setting(
        None, "FIELDSURVEY_READ_DATABASE_URL",
        "a replica of the database (a PostgreSQL hot standby) that exports and OData pages "
        "stream from, so that they do not compete with ingest on the primary; they may then lag "
        "the primary by the replica's delay (docs/scaling.md). Unset: the database itself",
        shown="unset",
    )
    data_dir: Path = setting(
        Path(".data"), "FIELDSURVEY_DATA_DIR", "embedded database and stored files"
    )
    host: str = setting("127.0.0.1", "HOST", "the address HTTP is served on")
    port: int = setting(8000, "PORT", "the port HTTP is served on")
    workers: int = setting(
        1, "FIELDSURVEY_WORKERS", "server worker processes (`fieldsurvey serve --workers N`)"
    )
    access_log: bool = setting(
        False, "FIELDSURVEY_ACCESS_LOG",
        "`1` logs every request (costs about 5% of ingest throughput)",
    )
    public_url: str | None = setting(
        None, "FIELDSURVEY_PUBLIC_URL",
        "base URL phones use, e.g. `https://survey.example.org` (for app-user server URLs and "
        "QR codes)", shown="the request's own",
    )
    session_hours: int = setting(24, "FIELDSURVEY_SESSION_HOURS", "lifetime of a session token")
    login_window_seconds: int = setting(
        15 * 60, "FIELDSURVEY_LOGIN_WINDOW_SECONDS",
        "the window in which failed logins are counted (pages and `POST /v1/sessions`; "
        "api/services/sessions.py)",
    )
    login_account_limit: int = setting(
        5, "FIELDSURVEY_LOGIN_ACCOUNT_LIMIT",
        "failed logins to one account from one address within the window before that address "
        "gets 429 for that account (pages, `POST /v1/sessions`, HTTP Basic, Digest)",
    )
    login_account_total_limit: int = setting(
        100, "FIELDSURVEY_LOGIN_ACCOUNT_TOTAL_LIMIT",
        "failed logins to one account from all addresses within the window before 429 for "
        "every address except those it logged in from in the last 90 days",
    )
    login_address_limit: int = setting(
        20, "FIELDSURVEY_LOGIN_ADDRESS_LIMIT",
        "failed logins from one address within the window before 429",
    )
    require_2fa: str = setting(
        "off", "FIELDSURVEY_REQUIRE_2FA",
        "who must use two-factor login (an authenticator app's code after the password): `off` "
        "(whoever chooses to, on their account page), `admins`, `managers` (administrators and "
        "project managers) or `all` web users; one it concerns who has not set it up is sent "
        "to set it up at their next login before anything else, and gets no API token until "
        "then (docs/pages.md)",
    )
    disclosure_k: int = setting(
        10, "FIELDSURVEY_DISCLOSURE_K",
        "disclosure threshold k for summaries; refused below 5",
    )
    unusual_reads_per_hour: int = setting(
        100, "FIELDSURVEY_UNUSUAL_READS_PER_HOUR",
        "a user who reads more than this many records (submissions or cases) of a project in "
        "one clock hour is listed on the managers' page of unusual reading; at least 1",
    )
    publication_lag_days: int = setting(
        7, "FIELDSURVEY_PUBLICATION_LAG_DAYS",
        "a month is published for roles without microdata this many days after it closes",
    )
    publication_interval_seconds: int = setting(
        600, "FIELDSURVEY_PUBLICATION_INTERVAL_SECONDS",
        "the server's publisher makes due publications at startup and then this often; `0` "
        "turns this timer off (the first request that finds a due publication missing, or "
        "`fieldsurvey publish`, still makes it)",
    )
    trash_days: int = setting(
        30, "FIELDSURVEY_TRASH_DAYS",
        "deleted submissions and entities can be restored for this many days; then the "
        "server's daily purge (and `fieldsurvey purge`) removes them for good, with their "
        "versions, comments and the files nothing else uses",
    )
    trash_purge_interval_seconds: int = setting(
        24 * 3600, "FIELDSURVEY_TRASH_PURGE_INTERVAL_SECONDS",
        "how often the server purges the trash and runs the forms' retention periods (the "
        "first run five minutes after it starts); `0` turns this timer off (`fieldsurvey "
        "purge` still does it)",
    )
    publication_settle_seconds: int = setting(
        300, "FIELDSURVEY_PUBLICATION_SETTLE_SECONDS",
        "the request and timer triggers make a publication only when nothing it covers "
        "changed for this long (an import still running is not frozen half-done; "
        "api/services/publications.py); a publication put off for a day is made anyway from "
        "what is committed then, so data that never stops changing delays it but cannot stop it",
    )
    max_submission_bytes: int = setting(
        100 * 1024 * 1024, "FIELDSURVEY_MAX_SUBMISSION_BYTES", "largest accepted request body"
    )
    body_idle_seconds: float = setting(
        30, "FIELDSURVEY_BODY_IDLE_SECONDS",
        "a request body that stops arriving this long is answered 408",
    )
    body_seconds: float = setting(
        900, "FIELDSURVEY_BODY_SECONDS",
        "a request body not complete after this long is answered 408",
    )
    max_streams: int = setting(
        8, "FIELDSURVEY_MAX_STREAMS",
        "exports and OData pages streaming at once (each holds a database connection; more wait)",
    )
    forwarded_allow_ips: str | None = setting(
        None, "FIELDSURVEY_FORWARDED_ALLOW_IPS",
        "proxies whose `X-Forwarded-Proto`/`-For` are trusted (comma-separated IPs, or `*`; "
        "`serve --forwarded-allow-ips`); none by default, so a forged "
        "`X-Forwarded-Proto: https` cannot make plain HTTP look like HTTPS",
        shown="none",
    )
    admin_email: str | None = setting(
        None, "FIELDSURVEY_ADMIN_EMAIL", "the first administrator's email",
        shown="`admin@fieldsurvey.local`",
    )
    metrics_token: str | None = setting(
        None, "FIELDSURVEY_METRICS_TOKEN",
        "a token that lets a scraper read `/metrics` through the proxy (`Authorization: Bearer "
        "TOKEN`); without it, `/metrics` answers only requests made on the machine straight to "
        "the server (docs/deploying.md)",
        shown="none", secret=True,
    )
    admin_password: str | None = setting(
        None, "FIELDSURVEY_ADMIN_PASSWORD",
        "the first administrator's password; when unset one is generated and printed once",
        shown="generated", secret=True,
    )
    attachments: str = setting(
        "local", "FIELDSURVEY_ATTACHMENTS",
        "where attachment files live: `local` (the folder `$FIELDSURVEY_DATA_DIR/attachments`, "
        "for one server), `postgres` (the database's table `attachment_blobs`, read by every "
        "app server) or `s3://bucket[/prefix]?endpoint=URL&region=R` (an S3-compatible bucket; "
        "credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`); "
        "`fieldsurvey attachments move` moves the files between them (docs/scaling.md)",
    )
    attachments_previous: str | None = setting(
        None, "FIELDSURVEY_ATTACHMENTS_PREVIOUS",
        "while attachment files move to another store: the store they come from (as "
        "`FIELDSURVEY_ATTACHMENTS`); every file is then written to both, read from the new one "
        "first, so app servers switch one at a time without downtime (docs/scaling.md)",
    )
    pg_bin_dir: str | None = setting(
        None, "FIELDSURVEY_PG_BIN_DIR",
        "the folder of `pg_dump` and `pg_restore` for `fieldsurvey backup` and `restore`; unset: "
        "the first of the system's (`PATH`) and the embedded PostgreSQL's whose major version is "
        "at least the server's (docs/backups.md)",
    )
    publish_bundled_forms: bool = setting(
        True, "FIELDSURVEY_PUBLISH_BUNDLED_FORMS",
        "`0` skips publishing `forms/library/` on first start",
    )
    events_interval_seconds: float = setting(
        1.0, "FIELDSURVEY_EVENTS_INTERVAL_SECONDS",
        "how often the outbox worker (one across all server processes) looks for new events "
        "to hand to alerts and webhooks (api/services/events.py); `0` runs no worker in this "
        "process",
    )
    smtp_url: str | None = setting(
        None, "FIELDSURVEY_SMTP_URL",
        "the mail server alert emails go through: `smtp://host:25` (STARTTLS when the server "
        "offers it), `smtps://user:password@host:465` (TLS from the start); user and password "
        "are URL-encoded. Unset: no email is sent (alerts stay in the app)",
        shown="unset", secret=True,
    )
    smtp_from: str = setting(
        "fieldsurvey@localhost", "FIELDSURVEY_SMTP_FROM", "the sender of alert emails",
    )
    webhooks_allow_private: bool = setting(
        False, "FIELDSURVEY_WEBHOOKS_ALLOW_PRIVATE",
        "`1` lets webhooks use plain `http://` and private, loopback or link-local addresses "
        "(tests, intranets); otherwise only `https://` to public addresses, checked when a "
        "webhook is created and again on every delivery, at the address connected to",
    )
    webhook_retry_seconds: float = setting(
        30.0, "FIELDSURVEY_WEBHOOK_RETRY_SECONDS",
        "the first wait before a failed webhook delivery is tried again; each later wait is "
        "twice the one before (at most an hour)",
    )
    webhook_give_up_hours: float = setting(
        24.0, "FIELDSURVEY_WEBHOOK_GIVE_UP_HOURS",
        "a webhook delivery still failing this long after its event is given up (shown as "
        "failed, with *Send again*)",
    )
    # not read from the environment
    bundled_forms_dir: Path = Path(__file__).resolve().parent.parent / "forms" / "library"

    def __post_init__(self) -> None:
        if self.require_2fa not in REQUIRE_2FA_CHOICES:
            raise ValueError("FIELDSURVEY_REQUIRE_2FA must be one of "
                             f"{', '.join(REQUIRE_2FA_CHOICES)} (got {self.require_2fa!r})")
        if self.disclosure_k < 5:
            raise ValueError(
                f"FIELDSURVEY_DISCLOSURE_K must be at least 5 (got {self.disclosure_k})"
            )
        if self.unusual_reads_per_hour < 1:
            raise ValueError("FIELDSURVEY_UNUSUAL_READS_PER_HOUR must be at least 1 "
                             f"(got {self.unusual_reads_per_hour})")
        if self.publication_lag_days < 0:
            raise ValueError(
                f"FIELDSURVEY_PUBLICATION_LAG_DAYS must not be negative (got {self.publication_lag_days})"
            )
        if self.publication_interval_seconds < 0:
            raise ValueError(
                "FIELDSURVEY_PUBLICATION_INTERVAL_SECONDS must not be negative "
                f"(got {self.publication_interval_seconds})"
            )
        if self.trash_days < 1:
            raise ValueError(f"FIELDSURVEY_TRASH_DAYS must be at least 1 (got {self.trash_days})")
        if self.trash_purge_interval_seconds < 0:
            raise ValueError(
                "FIELDSURVEY_TRASH_PURGE_INTERVAL_SECONDS must not be negative "
                f"(got {self.trash_purge_interval_seconds})"
            )
        if self.publication_settle_seconds < 0:
            raise ValueError(
                "FIELDSURVEY_PUBLICATION_SETTLE_SECONDS must not be negative "
                f"(got {self.publication_settle_seconds})"
            )
        for name, where in (("FIELDSURVEY_ATTACHMENTS", self.attachments),
                            ("FIELDSURVEY_ATTACHMENTS_PREVIOUS", self.attachments_previous)):
            if where not in (None, "local", "postgres"):
                from api.storage import parse_s3_url

                try:
                    parse_s3_url(where)
                except ValueError as exc:
                    raise ValueError(
                        f"{name} must be local, postgres or s3://bucket?endpoint=URL ({exc})"
                    ) from None
        if self.events_interval_seconds < 0:
            raise ValueError("FIELDSURVEY_EVENTS_INTERVAL_SECONDS must not be negative")
        if self.smtp_url is not None:
            from urllib.parse import urlsplit

            if urlsplit(self.smtp_url).scheme not in ("smtp", "smtps") or not urlsplit(
                    self.smtp_url).hostname:
                raise ValueError("FIELDSURVEY_SMTP_URL must be smtp://host:port or "
                                 "smtps://user:password@host:port")
        if self.webhook_retry_seconds <= 0 or self.webhook_give_up_hours <= 0:
            raise ValueError("FIELDSURVEY_WEBHOOK_RETRY_SECONDS and "
                             "FIELDSURVEY_WEBHOOK_GIVE_UP_HOURS must be positive")
        if self.attachments_previous == self.attachments:
            raise ValueError("FIELDSURVEY_ATTACHMENTS_PREVIOUS names the same store as "
                             "FIELDSURVEY_ATTACHMENTS")

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for entry in DOCUMENTED_SETTINGS:
            raw = env.get(entry.env, "")
            if raw == "":
                continue  # unset or empty: the default
            try:
                values[entry.name] = _PARSERS[entry.type](raw)
            except ValueError as exc:
                raise ValueError(f"{entry.env}={raw!r} is not a valid {entry.type}") from exc
        return cls(**values)


@dataclass(frozen=True)
class DocumentedSetting:
    name: str  # the Settings field
    env: str
    type: str
    default: str  # as the docs show it (markdown)
    meaning: str


def _documented() -> tuple[DocumentedSetting, ...]:
    rows = []
    for f in dataclasses.fields(Settings):
        if "env" not in f.metadata:
            continue
        shown = f.metadata["shown"]
        if shown is None and f.default is None:
            shown = "unset"
        elif shown is None:
            value = ("1" if f.default else "0") if f.type == "bool" else str(f.default)
            shown = f"`{value}`"
        rows.append(DocumentedSetting(f.name, f.metadata["env"], f.type, shown,
                                      f.metadata["meaning"]))
    return tuple(rows)


# The table docs/configuration.md is generated from, in the order of the class.
DOCUMENTED_SETTINGS = _documented()
