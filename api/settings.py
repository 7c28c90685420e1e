"""Deployment settings, read from the environment once and passed in (create_app(settings))."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    access_log: bool = False
    public_url: str | None = None  # base URL phones use, e.g. https://survey.example.org
    session_hours: int = 24
    # failed logins (pages and POST /v1/sessions) within the window before 429 (api/services/sessions.py)
    login_window_seconds: int = 15 * 60
    login_account_limit: int = 5
    login_address_limit: int = 20
    disclosure_k: int = 10
    publication_lag_days: int = 7  # a month is published this many days after it closes
    # the app's publisher makes due publications at startup and then this often (0: never;
    # `fieldsurvey publish` makes them)
    publication_interval_seconds: int = 600
    # a request or the timer makes a due publication only from data that has not changed for
    # this long (an import still running is not frozen half-done; api/services/publications.py)
    publication_settle_seconds: int = 300
    max_submission_bytes: int = 100 * 1024 * 1024
    body_idle_seconds: float = 30  # a request body that stops arriving this long: 408
    body_seconds: float = 900  # a request body not complete after this long: 408
    max_streams: int = 8  # exports and OData pages streaming at once (each holds a connection)
    # proxies whose X-Forwarded-Proto/-For are trusted (comma-separated IPs, or "*"); none by
    # default, so a forged "X-Forwarded-Proto: https" cannot make plain HTTP look like HTTPS
    forwarded_allow_ips: str | None = None
    admin_email: str | None = None
    admin_password: str | None = field(default=None, repr=False)
    bundled_forms_dir: Path = Path(__file__).resolve().parent.parent / "forms" / "library"
    publish_bundled_forms: bool = True

    def __post_init__(self) -> None:
        if self.disclosure_k < 5:
            raise ValueError(
                f"FIELDSURVEY_DISCLOSURE_K must be at least 5 (got {self.disclosure_k})"
            )
        if self.publication_lag_days < 0:
            raise ValueError(
                f"FIELDSURVEY_PUBLICATION_LAG_DAYS must not be negative (got {self.publication_lag_days})"
            )
        if self.publication_interval_seconds < 0:
            raise ValueError(
                "FIELDSURVEY_PUBLICATION_INTERVAL_SECONDS must not be negative "
                f"(got {self.publication_interval_seconds})"
            )

        if self.publication_settle_seconds < 0:
            raise ValueError(
                "FIELDSURVEY_PUBLICATION_SETTLE_SECONDS must not be negative "
                f"(got {self.publication_settle_seconds})"
            )

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=Path(env.get("FIELDSURVEY_DATA_DIR", ".data")),
            host=env.get("HOST", "127.0.0.1"),
            port=int(env.get("PORT", "8000")),
            workers=int(env.get("FIELDSURVEY_WORKERS", "1")),
            access_log=env.get("FIELDSURVEY_ACCESS_LOG", "0") == "1",
            public_url=env.get("FIELDSURVEY_PUBLIC_URL") or None,
            session_hours=int(env.get("FIELDSURVEY_SESSION_HOURS", "24")),
            login_window_seconds=int(env.get("FIELDSURVEY_LOGIN_WINDOW_SECONDS", str(15 * 60))),
            login_account_limit=int(env.get("FIELDSURVEY_LOGIN_ACCOUNT_LIMIT", "5")),
            login_address_limit=int(env.get("FIELDSURVEY_LOGIN_ADDRESS_LIMIT", "20")),
            disclosure_k=int(env.get("FIELDSURVEY_DISCLOSURE_K", "10")),
            publication_lag_days=int(env.get("FIELDSURVEY_PUBLICATION_LAG_DAYS", "7")),
            publication_interval_seconds=int(env.get("FIELDSURVEY_PUBLICATION_INTERVAL_SECONDS", "600")),
            publication_settle_seconds=int(env.get("FIELDSURVEY_PUBLICATION_SETTLE_SECONDS", "300")),
            max_submission_bytes=int(
                env.get("FIELDSURVEY_MAX_SUBMISSION_BYTES", str(100 * 1024 * 1024))
            ),
            max_streams=int(env.get("FIELDSURVEY_MAX_STREAMS", "8")),
            body_idle_seconds=float(env.get("FIELDSURVEY_BODY_IDLE_SECONDS", "30")),
            body_seconds=float(env.get("FIELDSURVEY_BODY_SECONDS", "900")),
            forwarded_allow_ips=env.get("FIELDSURVEY_FORWARDED_ALLOW_IPS") or None,
            admin_email=env.get("FIELDSURVEY_ADMIN_EMAIL") or None,
            admin_password=env.get("FIELDSURVEY_ADMIN_PASSWORD") or None,
            publish_bundled_forms=env.get("FIELDSURVEY_PUBLISH_BUNDLED_FORMS", "1") != "0",
        )
