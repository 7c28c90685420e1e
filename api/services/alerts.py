"""Alerts to web users: in the app (`/alerts`) and by email, each in the reader's language.

- `alert_users(conn, user_ids, ...)`: the one way to alert people, inside the caller's
  transaction (an outbox handler's, usually): one alert per `once_key` and person, never a
  repeat, by the channels each person chose for that kind (`ALERT_KINDS`; on `/account`).
- `on_events`: the outbox handler (api/services/events.py) for screenings classified urgent
  or high risk (to the project's managers whose scope includes the region) and submissions
  set to hasIssues or rejected (to the web user who submitted it, with the comment).
- `check_due_followups`: open cases whose next contact date has passed without a follow-up.
- `send_due_emails`: the email queue, drained by the outbox worker over SMTP (aiosmtplib).

An alert keeps codes (form, risk level, region), never an answer; an email carries only the
form, the risk level, the region and a link: anything finer (a district, a case code, a
reviewer's comment) stays behind the login.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiosmtplib
import asyncpg

from api.auth import Actor
from api.i18n import N_, I18n, zone
from api.scopes import users_in_scope
from api.settings import Settings
from db import alerts as alerts_db
from db.pool import pool_connection
from forms.vocabulary import (
    CENTRE_LABELS,
    REFERRAL_SERVICE_LABELS,
    REGION_LABELS,
    RISK_LEVEL_LABELS,
)

log = logging.getLogger("fieldsurvey.alerts")


@dataclass(frozen=True)
class AlertKind:
    name: str
    label: str  # N_(): shown on /account
    # (i18n, details) -> (title, text): the alert's words in the reader's language
    render: Callable[[I18n, dict[str, Any]], tuple[str, str]]
    # what an email may say beyond the title (no personal data): (i18n, details) -> text
    email_text: Callable[[I18n, dict[str, Any]], str]


def _region(i18n: I18n, code: str | None) -> str:
    return i18n.gettext(REGION_LABELS[code]) if code in REGION_LABELS else i18n.gettext(
        N_("an unknown region"))


def _level(i18n: I18n, details: dict) -> str:
    if details.get("urgent"):
        return i18n.gettext(N_("urgent"))
    level = details.get("riskLevel")
    return i18n.gettext(RISK_LEVEL_LABELS[level]) if level in RISK_LEVEL_LABELS else "?"


def _screening(i18n: I18n, d: dict) -> tuple[str, str]:
    title = (i18n.gettext(N_("Urgent screening")) if d.get("urgent")
             else i18n.gettext(N_("High-risk screening")))
    text = i18n.gettext(
        N_("A screening of the form %(form)s was classified %(level)s, in %(region)s."),
        form=d.get("formTitle") or d.get("form"), level=_level(i18n, d),
        region=_region(i18n, d.get("region")),
    )
    return title, text


_REVIEW_STATES = {"hasIssues": N_("has issues"), "rejected": N_("rejected")}


def _review_title(i18n: I18n, d: dict) -> str:
    return i18n.gettext(N_("Your submission was marked: %(state)s"),
                        state=i18n.gettext(_REVIEW_STATES.get(d.get("reviewState"), "?")))


def _review(i18n: I18n, d: dict) -> tuple[str, str]:
    text = i18n.gettext(N_("Form %(form)s."), form=d.get("formTitle") or d.get("form"))
    if d.get("comment"):
        text += " " + i18n.gettext(N_("Comment: %(comment)s"), comment=d["comment"])
    return _review_title(i18n, d), text


def _review_email(i18n: I18n, d: dict) -> str:
    return i18n.gettext(N_("Form %(form)s. The reviewer's comment is on the submission's page."),
                        form=d.get("formTitle") or d.get("form"))


def _followup(i18n: I18n, d: dict) -> tuple[str, str]:
    due = d.get("due")
    text = i18n.gettext(
        N_("Case %(case)s (%(region)s) was due for contact on %(date)s; no follow-up has been "
           "recorded since."),
        case=d.get("case") or "", region=_region(i18n, d.get("region")),
        date=i18n.date(date.fromisoformat(due)) if due else "?",
    )
    return i18n.gettext(N_("Overdue follow-up")), text


def _followup_email(i18n: I18n, d: dict) -> str:
    return i18n.gettext(N_("A case in %(region)s is past its next contact date."),
                        region=_region(i18n, d.get("region")))


def _generic(i18n: I18n, d: dict) -> tuple[str, str]:
    # a kind whose module renders its own words puts them, as message ids, in the details
    return (i18n.gettext(d.get("title", N_("Alert"))),
            i18n.gettext(d["text"], **d.get("params", {})) if d.get("text") else "")


_REFERRAL_TITLES = {
    ("referral", "pending"): N_("Referral received"),
    ("transfer", "pending"): N_("Transfer received"),
    ("referral", "accepted"): N_("Referral accepted"),
    ("transfer", "accepted"): N_("Transfer accepted"),
    ("referral", "declined"): N_("Referral declined"),
    ("transfer", "declined"): N_("Transfer declined"),
}


def _centre(i18n: I18n, code: str | None) -> str:
    return i18n.gettext(CENTRE_LABELS[code]) if code in CENTRE_LABELS else (code or "?")


def _referral_target(i18n: I18n, d: dict) -> str:
    parts = [_centre(i18n, d["toCentre"])] if d.get("toCentre") else []
    if d.get("service"):
        parts.append(i18n.gettext(REFERRAL_SERVICE_LABELS.get(d["service"], d["service"])))
    return " · ".join(parts)


def _referral_email(i18n: I18n, d: dict) -> str:
    # no case code in an email: the centres and the service only
    return i18n.gettext(N_("From %(from)s to %(target)s."), target=_referral_target(i18n, d),
                        **{"from": _centre(i18n, d.get("fromCentre"))})


def _referral(i18n: I18n, d: dict) -> tuple[str, str]:
    title = i18n.gettext(_REFERRAL_TITLES.get((d.get("kind"), d.get("state")), N_("Alert")))
    text = i18n.gettext(N_("Case %(case)s."), case=d.get("case") or "?")
    return title, f"{text} {_referral_email(i18n, d)}"


ALERT_KINDS: dict[str, AlertKind] = {
    "screening": AlertKind("screening", N_("Screenings classified urgent or high risk"),
                           _screening, lambda i18n, d: _screening(i18n, d)[1]),
    "review": AlertKind("review", N_("My submissions marked 'has issues' or rejected"),
                        _review, _review_email),
    "followup": AlertKind("followup", N_("Cases past their next contact date"),
                          _followup, _followup_email),
    "referral": AlertKind("referral", N_("Referrals and transfers"),
                          _referral, _referral_email),
}


async def alert_users(
    conn: asyncpg.Connection, user_ids: Sequence[int], *, project_id: int, kind: str,
    once_key: str, link: str, details: dict[str, Any],
) -> list[int]:
    """Alert these web users, in the caller's transaction (so alerts commit with what caused
    them). `kind` is one of ALERT_KINDS (each user's choice of channels for it applies);
    `once_key` says what the alert is about (e.g. `event/123`): a user gets one alert per
    key, ever; `link` is the page's path (`/projects/1/...`); `details` holds codes and ids
    for the kind's renderer, never personal data meant for the email. Returns the users
    alerted now."""
    if kind not in ALERT_KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    if not user_ids:
        return []
    rows = await alerts_db.insert_alerts(
        conn, sorted(set(user_ids)), project_id=project_id, kind=kind, once_key=once_key,
        link=link, details=details,
    )
    return [r["user_id"] for r in rows]


async def region_managers(conn: asyncpg.Connection, project_id: int, region: str | None,
                          centre: str | None = None) -> list[int]:
    """The project's managers whose scope (row scopes, api/scopes.py) takes in a record of
    this region (or, for a case, this centre); unscoped managers always."""
    managers = await alerts_db.project_managers(conn, project_id)
    return await users_in_scope(conn, project_id, managers, region=region, centre=centre)


def submission_link(project_id: int, xml_form_id: str, instance_id: str) -> str:
    return (f"/projects/{project_id}/forms/{quote(xml_form_id, safe='')}/submissions/"
            f"{quote(instance_id, safe='')}")


async def on_events(conn: asyncpg.Connection, events: Sequence) -> None:
    """Outbox handler: alerts for urgent/high screenings and for reviews."""
    stored = [e.details["submissionId"] for e in events
              if e.kind in ("submission.created", "submission.updated")]
    if stored:
        for s in await alerts_db.alarming_screenings(conn, stored):
            recipients = await region_managers(conn, s["project_id"], s["region"])
            await alert_users(
                conn, recipients, project_id=s["project_id"], kind="screening",
                # one alert per screening and person, however often it is edited
                once_key=f"screening/{s['submission_id']}",
                link=submission_link(s["project_id"], s["xml_form_id"], s["instance_id"]),
                details={"form": s["xml_form_id"], "formTitle": s["form_title"],
                         "riskLevel": s["risk_level"], "urgent": bool(s["urgent"]),
                         "region": s["region"]},
            )
    for event in events:
        if event.kind != "submission.reviewed":
            continue
        state = event.details.get("reviewState")
        if state not in _REVIEW_STATES:
            continue
        row = await alerts_db.reviewed_submission(
            conn, event.details["submissionId"], event.created_at
        )
        if row is None:  # submitted by an app user or a public link: nobody to tell
            continue
        await alert_users(
            conn, [row["submitter_id"]], project_id=row["project_id"], kind="review",
            once_key=f"event/{event.id}",
            link=submission_link(row["project_id"], row["xml_form_id"], row["instance_id"]),
            details={"form": row["xml_form_id"], "formTitle": row["form_title"],
                     "reviewState": state, "comment": row["notes"]},
        )


FOLLOWUP_CHECK_SECONDS = 300.0


def today_in_dushanbe(now: datetime | None = None) -> date:
    now = now or datetime.now(tz=zone(None))
    return now.astimezone(zone(None)).date()


async def check_due_followups(conn: asyncpg.Connection, today: date) -> int:
    """Alert about open cases whose next contact date is before `today` (the day in
    Asia/Dushanbe) and that no follow-up has moved on: to the managers whose scope includes
    the case's region, once per case and due date. Returns the alerts made."""
    made = 0
    for case in await alerts_db.overdue_cases(conn, today):
        recipients = await region_managers(conn, case["project_id"], case["region"],
                                           case["centre"])
        made += len(await alert_users(
            conn, recipients, project_id=case["project_id"], kind="followup",
            once_key=f"followup/{case['uuid']}/{case['due']}",
            link=f"/projects/{case['project_id']}/cases/{case['uuid']}",
            details={"case": case["label"], "region": case["region"], "due": case["due"]},
        ))
    return made


# --- reading (the /alerts page) -------------------------------------------------------------

@dataclass(frozen=True)
class ShownAlert:
    id: int
    title: str
    text: str
    link: str
    created_at: datetime
    read: bool


def shown(i18n: I18n, row) -> ShownAlert:
    title, text = ALERT_KINDS[row["kind"]].render(i18n, dict(row["details"] or {}))
    return ShownAlert(row["id"], title, text, row["link"], row["created_at"],
                      row["read_at"] is not None)


async def list_alerts(conn: asyncpg.Connection, actor: Actor, i18n: I18n, *, limit: int = 50,
                      offset: int = 0) -> list[ShownAlert]:
    return [shown(i18n, r) for r in await alerts_db.user_alerts(conn, actor.id, limit, offset)]


async def unread_count(conn: asyncpg.Connection, actor: Actor) -> int:
    return await alerts_db.count_unread(conn, actor.id)


async def mark_read(conn: asyncpg.Connection, actor: Actor, alert_id: int | None = None) -> int:
    """Mark one of the user's alerts read (or all of them, with None)."""
    return await alerts_db.mark_read(conn, actor.id, alert_id)


def preferences_of(stored: dict | None) -> dict[str, dict[str, bool]]:
    """Each kind's channels, defaults filled in (in the app and by email)."""
    stored = stored or {}
    return {
        kind: {"app": bool(stored.get(kind, {}).get("app", True)),
               "email": bool(stored.get(kind, {}).get("email", True))}
        for kind in ALERT_KINDS
    }


async def get_preferences(conn: asyncpg.Connection, actor: Actor) -> dict[str, dict[str, bool]]:
    row = await alerts_db.get_preferences(conn, actor.id)
    return preferences_of(row["alert_preferences"] if row else None)


async def set_preferences(conn: asyncpg.Connection, actor: Actor,
                          chosen: dict[str, dict[str, bool]]) -> None:
    await alerts_db.set_preferences(conn, actor.id, preferences_of(chosen))


# --- email ----------------------------------------------------------------------------------

EMAIL_BATCH = 50


def email_message(row, settings: Settings) -> EmailMessage:
    """An alert's email in the recipient's language: the title, the words the kind allows
    in an email (no personal data) and the link."""
    i18n = I18n.for_locale(row["locale"])
    kind = ALERT_KINDS[row["kind"]]
    details = dict(row["details"] or {})
    title, _ = kind.render(i18n, details)
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    message = EmailMessage()
    message["Subject"] = f"fieldsurvey: {title}"
    message["From"] = settings.smtp_from
    message["To"] = row["email_to"]
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n\n".join([
        kind.email_text(i18n, details),
        i18n.gettext(N_("Open it (after logging in): %(link)s"), link=base + row["link"]),
        i18n.gettext(N_("You can choose which alerts you get, and how, on your account page.")),
    ]) + "\n")
    return message


def smtp_client(settings: Settings) -> aiosmtplib.SMTP:
    parts = urlsplit(settings.smtp_url)
    tls = parts.scheme == "smtps"
    return aiosmtplib.SMTP(
        hostname=parts.hostname, port=parts.port or (465 if tls else 25), use_tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=30,
    )


async def send_due_emails(pool: asyncpg.Pool, settings: Settings) -> int:
    """Send the pending alert emails (a sender of the outbox worker). Each is leased while
    it is sent, marked sent after the server took it, or tried again later with backoff
    (given up after a day). Without FIELDSURVEY_SMTP_URL nothing is sent."""
    if not settings.smtp_url:
        return 0
    async with pool_connection(pool) as conn:
        due = await alerts_db.claim_due_emails(conn, EMAIL_BATCH)
    if not due:
        return 0
    sent = 0
    outcome: dict[int, str | None] = {}
    try:
        async with smtp_client(settings) as smtp:
            for row in due:
                try:
                    await smtp.send_message(email_message(row, settings))
                    outcome[row["id"]] = None
                    sent += 1
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    outcome[row["id"]] = f"refused: {exc}"
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.warning("sending alert emails failed: %s: %s", type(exc).__name__, exc)
        for row in due:
            outcome.setdefault(row["id"], f"{type(exc).__name__}: {exc}")
    async with pool_connection(pool) as conn:
        for alert_id, error in outcome.items():
            if error is None:
                await alerts_db.mark_emailed(conn, alert_id)
            else:
                await alerts_db.mark_email_failed(conn, alert_id, error)
    return sent
