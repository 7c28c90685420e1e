"""One catalogue of errors. Every error has a stable slug, a status and a message; only the
HTTP layer turns a Problem into a response (problem+json on REST, OpenRosaResponse on OpenRosa).
Titles (and details marked with N_()) are in the Babel catalogues: responses follow the
request's Accept-Language (api/i18n.py `localized_problem`).
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from api.i18n import N_
from db.pool import BROKEN_CONNECTION

log = logging.getLogger("fieldsurvey")
# The database went away (stopped, restarted, unreachable) or left the request's connection
# broken: a 503, and the pool reconnects. Its own text goes to the log, never to the client.
DATABASE_GONE = (
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError and the 08 class
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    ConnectionError,  # refused or reset while connecting
    *BROKEN_CONNECTION,  # a connection PostgreSQL's death left mid-protocol
)

# slug -> (status, Central's code, title). Central's codes are those of central-backend's
# lib/util/problem.js (their integer part is the HTTP status); a slug with no Central twin takes
# the nearest one of the same status, or `status + .99` when Central has none at all.
CATALOGUE: dict[str, tuple[int, float, str]] = {
    # 400
    "request-invalid": (400, 400.8, N_("The request is not valid.")),
    "json-invalid": (400, 400.1, N_("The request body is not valid JSON for this endpoint.")),
    "content-type-unsupported": (415, 415.99, N_("The request body's Content-Type is not supported here.")),
    "xlsform-invalid": (400, 400.15, N_("The XLSForm could not be converted.")),
    "xlsform-has-warnings": (400, 400.16, N_("The XLSForm has warnings; resend with ignoreWarnings=true.")),
    "xform-invalid": (400, 400.1, N_("The XForm is not valid.")),
    "xform-has-warnings": (
        400, 400.16, N_("ODK Validate has warnings about the XForm; resend with ignoreWarnings=true.")),
    "form-id-missing": (400, 400.2, N_("The form has no form_id.")),
    "odk-validate-failed": (400, 400.15, N_("ODK Validate (JavaRosa) rejected the form.")),
    "form-encrypted-unsupported": (400, 400.8, N_("Encrypted forms are not supported.")),
    "openrosa-version-missing": (400, 400.6, N_("The request must carry the header X-OpenRosa-Version: 1.0.")),
    "submission-file-missing": (400, 400.7, N_("The request has no xml_submission_file part.")),
    "submission-xml-invalid": (400, 400.1, N_("The submission XML could not be parsed.")),
    "submission-form-id-missing": (400, 400.2, N_("The submission does not say which form it is for.")),
    "submission-instance-id-missing": (400, 400.2, N_("The submission has no meta/instanceID.")),
    "version-missing": (400, 400.2, N_("The form version is empty; give ?version= to publish.")),
    "setting-invalid": (400, 400.8, N_("A setting has a value that is not allowed.")),
    "summary-query-invalid": (400, 400.8, N_("The summary query is not valid.")),
    "odata-query-invalid": (400, 400.18, N_("The OData query options cannot be used.")),
    "submission-deprecated-id-missing": (
        400,
        400.19,
        N_("An edit must name the version it replaces in meta/deprecatedID."),
    ),
    "erasure-not-confirmed": (400, 400.8, N_("The erasure was not confirmed.")),
    "webhook-url-refused": (400, 400.8, N_("The webhook's address is not allowed.")),
    "webhook-not-found": (404, 404.1, N_("No such webhook in this project.")),
    "export-option-invalid": (400, 400.8, N_("An export or report option is not valid for this form.")),
    "export-too-wide": (400, 400.8, N_("The export has more columns than a spreadsheet can hold.")),
    "form-id-mismatch": (400, 400.8, N_("The new definition has a different form_id than the form.")),
    # entity lists (datasets) and entities
    "dataset-name-invalid": (400, 400.8, N_("This is not a valid entity list (dataset) name.")),
    "property-name-invalid": (400, 400.8, N_("This is not a valid entity property name.")),
    "entity-invalid": (400, 400.28, N_("The entity is invalid.")),
    "entity-form-invalid": (400, 400.25, N_("The entity definition within the form is invalid.")),
    "entity-parameter-missing": (400, 400.2, N_("A required entity parameter is missing.")),
    "entity-parameter-invalid": (400, 400.11, N_("An entity parameter has the wrong type or form.")),
    "entity-attributes-unexpected": (
        400, 400.31, N_("The request has attributes this endpoint does not take.")),
    "entity-no-conflict": (400, 400.32, N_("The entity has no conflict to resolve.")),
    "entity-property-not-found": (
        400, 400.23, N_("The query names a property the entity list does not have.")),
    # support-centre cases: ownership, referrals and transfers (api/services/cases.py)
    "case-centre-invalid": (400, 400.8, N_("This is not one of the support centres.")),
    "caseworker-invalid": (
        400, 400.8, N_("The caseworker must be a web user with a role in this project that may "
                       "read its cases.")),
    "referral-invalid": (400, 400.8, N_("The referral or transfer is not valid.")),
    "referral-reason-missing": (400, 400.8, N_("Declining a referral or transfer needs a reason.")),
    "attachment-name-invalid": (
        400,
        400.8,
        N_("A file name cannot be stored: it has a path or control characters."),
    ),
    "password-too-short": (
        400, 400.21, N_("The password is too short; it needs at least 10 characters.")
    ),
    "value-invalid": (
        400,
        400.8,
        N_("A value in the request cannot be stored (too long, NUL, or out of range)."),
    ),
    # 401 / 403
    "auth-required": (401, 401.2, N_("Authentication is required.")),
    "auth-failed": (401, 401.2, N_("The email address or password is wrong.")),
    "session-invalid": (401, 401.2, N_("The session token is unknown, expired or ended.")),
    "second-factor-required": (
        401, 401.2, N_("This account uses two-factor login: give the 6-digit code from its "
                       "authenticator app, or a recovery code, as code.")),
    "second-factor-failed": (
        401, 401.2, N_("The two-factor code is wrong, expired or already used.")),
    "second-factor-setup-required": (
        403, 403.1, N_("This account must set up two-factor login first: log in on the web "
                       "pages, where it is set up.")),
    "forbidden": (403, 403.1, N_("The authenticated actor may not do this.")),
    "public-link-revoked": (403, 403.1, N_("This public link was revoked.")),
    "summary-disclosure-required": (
        403,
        403.1,
        N_("Disclosure control can be turned off only by roles that may read microdata."),
    ),
    "summary-district-guarded": (
        403,
        403.1,
        N_("The district has too few screenings to be shown on its own."),
    ),
    "entity-action-not-permitted": (
        403, 403.2, N_("The submission attempts an entity action its form does not permit.")),
    "case-out-of-scope": (
        403, 403.1, N_("The case belongs to a support centre this account may not update.")),
    # 404
    "not-found": (404, 404.1, N_("Nothing was found at this address.")),
    "api-version-missing": (404, 404.2, N_("Expected an API version (eg /v1) at the start of the request URL.")),
    "project-not-found": (404, 404.1, N_("The project does not exist.")),
    "form-not-found": (404, 404.1, N_("The form does not exist, or is not published.")),
    "form-version-not-found": (404, 404.6, N_("The form version does not exist.")),
    "draft-missing": (404, 404.1, N_("The form has no draft to publish.")),
    "submission-not-found": (404, 404.1, N_("The submission does not exist.")),
    "submission-deprecated-id-unknown": (404, 404.5, N_("The deprecatedID names no current submission.")),
    "attachment-not-found": (404, 404.1, N_("The attachment does not exist.")),
    "app-user-not-found": (404, 404.1, N_("The app user does not exist.")),
    "public-link-not-found": (404, 404.1, N_("The public link does not exist.")),
    "user-not-found": (404, 404.1, N_("The user does not exist.")),
    "dataset-not-found": (404, 404.1, N_("The entity list (dataset) does not exist.")),
    "entity-not-found": (404, 404.1, N_("The entity does not exist.")),
    "submission-dataset-not-found": (
        404, 404.7, N_("The entity list named in the submission does not exist.")),
    "submission-entity-not-found": (
        404, 404.8, N_("The entity named in the submission does not exist.")),
    "entity-base-version-not-found": (404, 404.9, N_("The entity's base version does not exist.")),
    "entity-deleted": (404, 404.11, N_("The entity has been deleted.")),
    "referral-not-found": (404, 404.1, N_("The case has no such referral or transfer.")),
    "method-not-allowed": (405, 405.99, N_("The method is not allowed on this resource.")),
    # 409
    "form-exists": (409, 409.3, N_("A form with that xmlFormId already exists in this project.")),
    "form-version-exists": (409, 409.6, N_("That version of the form was already published.")),
    "form-closed": (409, 409.2, N_("The form is closed and takes no submissions.")),
    "public-link-used": (
        409, 409.1, N_("This link allows one submission, and it was already sent.")
    ),
    "public-link-entity-form": (
        409, 409.1, N_("This form reads an entity list (case data): a public link would give "
                       "that data to anyone with the link, so this form cannot have one.")
    ),
    "project-archived": (
        409, 409.1, N_("This project is archived: it is read-only and takes no submissions or "
                       "form changes. Ask an administrator to unarchive it.")
    ),
    "submission-conflict": (
        409,
        409.1,
        N_("A submission with this instanceID exists with different content."),
    ),
    "submission-deprecated-id-stale": (
        409,
        409.9,
        N_("The deprecatedID names a version that was edited since; edit the current version."),
    ),
    "submission-deleted": (
        409, 409.18, N_("This submission has been deleted. You may not resubmit it.")),
    "submission-exists": (409, 409.3, N_("A submission with this instanceID already exists.")),
    "user-exists": (409, 409.3, N_("A user with that email address already exists.")),
    "dataset-exists": (
        409, 409.3, N_("An entity list with that name already exists in this project.")),
    "dataset-name-conflict": (
        409, 409.16,
        N_("An entity list exists whose name differs from this one only in capitalization.")),
    "property-exists": (409, 409.3, N_("The entity list already has a property with that name.")),
    "entity-exists": (409, 409.3, N_("An entity with that UUID already exists.")),
    "entity-uuid-deleted": (
        409, 409.19, N_("The UUID belongs to a deleted entity and cannot be reused.")),
    "entity-version-conflict": (
        409, 409.15,
        N_("The entity has changed since baseVersion; give the current version or ?force=true.")),
    "referral-consent-missing": (
        409, 409.1, N_("The person's consent to share is not recorded on this case: a referral "
                       "or transfer needs it, or a manager's override with a reason.")),
    "referral-answered": (409, 409.1, N_("The referral or transfer was already answered.")),
    "transfer-pending": (
        409, 409.1, N_("A transfer of this case is waiting for an answer; it must be accepted "
                       "or declined before another is made.")),
    # 408 / 413 / 429
    "request-timeout": (408, 408.99, N_("The request body did not arrive in time.")),
    "login-throttled": (429, 429.99, N_("Too many failed logins; wait before trying again.")),
    "payload-too-large": (413, 413.99, N_("The request is larger than the server accepts.")),
    "internal-error": (500, 500.1, N_("The server failed; the failure was logged.")),
    "database-unavailable": (503, 503.99, N_("The database does not answer; try again shortly.")),
    "publication-pending": (
        503, 503.99,
        N_("This project has no publication of its summaries yet: the publisher makes one within "
           "minutes once the project has data; try again later."),
    ),
}


class Problem(Exception):
    """A failure with a catalogue slug. `detail` says what happened in this case; `extra`
    carries our structured members (e.g. the XLSForm rows); `details` is Central's `details`
    member where Central gives one (e.g. {"fields": [...], "values": [...]} for 409.3)."""

    def __init__(
        self,
        slug: str,
        detail: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ):
        if slug not in CATALOGUE:
            raise KeyError(f"unknown problem slug {slug!r}")
        self.slug = slug
        self.status, self.code, self.title = CATALOGUE[slug]
        # `detail` may be a catalogue string with %(name)s placeholders filled from `params`:
        # the English text is detail % params; api/i18n.py translates the template
        self.detail_template = detail or self.title
        self.params = params or {}
        self.detail = detail % self.params if detail and params else (detail or self.title)
        self.extra = extra or {}
        self.details = details
        self.headers = headers or {}
        super().__init__(f"{slug}: {self.detail}")

    def to_json(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:fieldsurvey:problem:{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            # Central's members, which its clients (pyodk, Collect, central-frontend) read
            "code": self.code,
            "message": self.detail,
            "slug": self.slug,
        }
        if self.details is not None:
            body["details"] = self.details
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


def slug_for_status(status: int) -> str:
    return {
        400: "request-invalid",
        401: "auth-required",
        403: "forbidden",
        404: "not-found",
        405: "method-not-allowed",
        408: "request-timeout",
        409: "request-invalid",
        413: "payload-too-large",
        415: "content-type-unsupported",
    }.get(status, "internal-error" if status >= 500 else "request-invalid")


def problem_for_exception(request: Any, exc: Exception) -> Problem:
    """The Problem for an exception no handler turned into one (`request`: its method and
    url.path are logged). A value PostgreSQL cannot take (NUL in text, a number or a date out
    of range, an over-long index key) is the client's: a 400, and the transaction it was in
    has been rolled back. Input too deeply nested for the JSON decoder likewise. Anything else
    is ours: a 500, logged."""
    if isinstance(exc, asyncpg.DataError | asyncpg.ProgramLimitExceededError):
        # the database's own words name its types and statements: they stay in the log
        log.info("value refused by the database on %s %s: %s", request.method,
                 request.url.path, exc)
        return Problem("value-invalid")
    if isinstance(exc, RecursionError) and "deserializ" in str(exc):
        return Problem("json-invalid", "The JSON is nested too deeply.")
    if isinstance(exc, DATABASE_GONE):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return Problem("database-unavailable")
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Problem("internal-error")
