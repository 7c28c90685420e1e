"""Names of the rubric's codes (forms/rubric.py, the spec's risk-screening.md), marked for the
catalogue: pages show these, with the code as secondary text where a researcher needs it.
(Risk and vulnerability levels: RISK_LEVEL_LABELS in forms/vocabulary.py.)"""

from __future__ import annotations

from api.i18n import N_

# The rubric's names live with its other vocabulary (forms/vocabulary.py), which the exports
# use too; the pages import them from here.
from forms.vocabulary import (  # noqa: E402, F401
    CONTROL_FORMS,
    EXPLOITATION_STATUS,
    EXPLOITATION_TYPES,
    RISK_GROUPS,
)

# The audit log's actions, as the admin's audit page names them (nouns: no agreement with the
# actor's gender in Russian or Tajik). An action missing here is "Other action" on the page,
# its code in the entry's raw record.
AUDIT_ACTIONS = {
    "user.create": N_("New user"),
    "user.update": N_("User changed"),
    "user.delete": N_("User deactivated"),
    "user.password.reset": N_("Password reset"),
    "user.session.create": N_("Login"),
    "user.session.end": N_("Logout"),
    "user.session.failed": N_("Failed login"),
    "user.assignment.create": N_("Role given"),
    "user.assignment.delete": N_("Role taken away"),
    "project.create": N_("New project"),
    "project.update": N_("Project changed"),
    "project.read": N_("Project viewed"),
    "form.create": N_("Form uploaded"),
    "form.update": N_("Form changed"),
    "form.update.publish": N_("Form published"),
    "form.attachment.update": N_("Form file uploaded"),
    "form.read": N_("Form viewed"),
    "form.list": N_("Forms listed"),
    "form.download": N_("Form downloaded"),
    "submission.create": N_("Submission received"),
    "submission.update": N_("Submission reviewed"),
    "submission.update.version": N_("Submission edited"),
    "submission.attachment.update": N_("Submission file uploaded"),
    "submission.attachment.read": N_("Submission file opened"),
    "submission.read": N_("Submission viewed"),
    "submission.list": N_("Submissions listed"),
    "submission.export": N_("Submissions exported"),
    "submission.comment.create": N_("Comment on a submission"),
    "submission.delete": N_("Submission deleted"),
    "submission.restore": N_("Submission restored"),
    "submission.purge": N_("Submission purged"),
    "submission.erase": N_("Submission erased"),
    "screening.reclassify": N_("Screenings reclassified"),
    "field_key.create": N_("New app user"),
    "field_key.revoke": N_("App user revoked"),
    "field_key.session.end": N_("App user's access ended"),
    "field_key.assignment.create": N_("Form given to an app user"),
    "field_key.assignment.delete": N_("Form taken from an app user"),
    "summary.read": N_("Risk summaries viewed"),
    "odata.read": N_("Data read over OData"),
    "dataset.create": N_("New entity list"),
    "dataset.update": N_("Entity list changed"),
    "entity.read": N_("Entity viewed"),
    "entity.list": N_("Entities listed"),
    "entity.update": N_("Entity changed"),
    "entity.delete": N_("Entity deleted"),
    "case.read": N_("Case viewed"),
    "case.assign": N_("Case assigned"),
    "case.referral": N_("Case referred"),
    "case.referral.accept": N_("Referral accepted"),
    "case.referral.decline": N_("Referral declined"),
    "case.transfer": N_("Case transferred"),
    "case.transfer.accept": N_("Transfer accepted"),
    "case.transfer.decline": N_("Transfer declined"),
    "case.consent.override": N_("Consent overridden"),
    "public_link.create": N_("Public link created"),
    "public_link.delete": N_("Public link revoked"),
    "sensitive.read": N_("Sensitive answers viewed"),
}
AUDIT_OTHER = N_("Other action")
# The groups the audit page filters by (an action's first parts).
AUDIT_GROUP_LABELS = {
    "user": N_("Users"),
    "user.session": N_("Logins"),
    "user.assignment": N_("Roles"),
    "project": N_("Projects"),
    "form": N_("Forms"),
    "submission": N_("Submissions"),
    "field_key": N_("App users"),
    "summary": N_("Risk summaries"),
    "export": N_("Exports"),
    "case": N_("Cases"),
}
# The fields of an entry's details that the page shows by name: those whose values are people's
# words or numbers, not codes (the rest: in the raw record).
AUDIT_DETAILS = {
    "email": N_("Email"),
    "displayName": N_("Name"),
    "role": N_("Role"),
    "reviewState": N_("Review state"),
    "format": N_("Format"),
    "rows": N_("Rows"),
    "count": N_("Count"),
    "version": N_("Version"),
    "ip": N_("Address"),
}
