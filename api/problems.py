"""One catalogue of errors. Every error has a stable slug, a status and a message; only the
HTTP layer turns a Problem into a response (problem+json on REST, OpenRosaResponse on OpenRosa).
"""

from __future__ import annotations

from typing import Any

# slug -> (status, title)
CATALOGUE: dict[str, tuple[int, str]] = {
    # 400
    "request-invalid": (400, "The request is not valid."),
    "json-invalid": (400, "The request body is not valid JSON for this endpoint."),
    "content-type-unsupported": (415, "The request body's Content-Type is not supported here."),
    "xlsform-invalid": (400, "The XLSForm could not be converted."),
    "xlsform-has-warnings": (400, "The XLSForm has warnings; resend with ignoreWarnings=true."),
    "xform-invalid": (400, "The XForm is not valid."),
    "form-id-missing": (400, "The form has no form_id."),
    "odk-validate-failed": (400, "ODK Validate (JavaRosa) rejected the form."),
    "form-encrypted-unsupported": (400, "Encrypted forms are not supported."),
    "openrosa-version-missing": (400, "The request must carry the header X-OpenRosa-Version: 1.0."),
    "submission-file-missing": (400, "The request has no xml_submission_file part."),
    "submission-xml-invalid": (400, "The submission XML could not be parsed."),
    "submission-form-id-missing": (400, "The submission does not say which form it is for."),
    "submission-instance-id-missing": (400, "The submission has no meta/instanceID."),
    "draft-missing": (400, "The form has no draft to publish."),
    "version-missing": (400, "The form version is empty; give ?version= to publish."),
    "setting-invalid": (400, "A setting has a value that is not allowed."),
    "summary-query-invalid": (400, "The summary query is not valid."),
    "odata-query-invalid": (400, "The OData query options cannot be used."),
    "submission-deprecated-id-missing": (
        400,
        "An edit must name the version it replaces in meta/deprecatedID.",
    ),
    "export-option-invalid": (400, "An export or report option is not valid for this form."),
    "export-too-wide": (400, "The export has more columns than a spreadsheet can hold."),
    # 401 / 403
    "auth-required": (401, "Authentication is required."),
    "auth-failed": (401, "The email address or password is wrong."),
    "session-invalid": (401, "The session token is unknown, expired or ended."),
    "forbidden": (403, "The authenticated actor may not do this."),
    "summary-disclosure-required": (
        403,
        "Disclosure control can be turned off only by roles that may read microdata.",
    ),
    "summary-district-guarded": (
        403,
        "The district has too few screenings to be shown on its own.",
    ),
    # 404
    "not-found": (404, "Nothing was found at this address."),
    "project-not-found": (404, "The project does not exist."),
    "form-not-found": (404, "The form does not exist, or is not published."),
    "form-version-not-found": (404, "The form version does not exist."),
    "submission-not-found": (404, "The submission does not exist."),
    "attachment-not-found": (404, "The attachment does not exist."),
    "app-user-not-found": (404, "The app user does not exist."),
    "user-not-found": (404, "The user does not exist."),
    "method-not-allowed": (405, "The method is not allowed on this resource."),
    # 409
    "project-exists": (409, "A project with that name already exists."),
    "form-exists": (409, "A form with that xmlFormId already exists in this project."),
    "form-version-exists": (409, "That version of the form was already published."),
    "form-id-mismatch": (409, "The new definition has a different form_id than the form."),
    "form-closed": (409, "The form is closed and takes no submissions."),
    "submission-conflict": (
        409,
        "A submission with this instanceID exists with different content.",
    ),
    "submission-deprecated-id-unknown": (409, "The deprecatedID names no current submission."),
    "submission-exists": (409, "A submission with this instanceID already exists."),
    "user-exists": (409, "A user with that email address already exists."),
    # 413
    "payload-too-large": (413, "The request is larger than the server accepts."),
    "internal-error": (500, "The server failed; the failure was logged."),
}


class Problem(Exception):
    """A failure with a catalogue slug. `detail` says what happened in this case; `extra`
    carries structured details (e.g. the XLSForm rows)."""

    def __init__(
        self,
        slug: str,
        detail: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        if slug not in CATALOGUE:
            raise KeyError(f"unknown problem slug {slug!r}")
        self.slug = slug
        self.status, self.title = CATALOGUE[slug]
        self.detail = detail or self.title
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(f"{slug}: {self.detail}")

    def to_json(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:fieldsurvey:problem:{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.slug,
        }
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
        409: "request-invalid",
        413: "payload-too-large",
        415: "content-type-unsupported",
    }.get(status, "internal-error" if status >= 500 else "request-invalid")
