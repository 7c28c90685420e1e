"""REST API shaped after ODK Central's (/v1/...)."""

from api.v1 import app_users, forms, projects, screenings, sessions

route_handlers = [
    sessions.create_session,
    sessions.delete_session,
    sessions.current_user,
    sessions.list_users,
    sessions.create_user,
    sessions.assign_role,
    sessions.unassign_role,
    projects.list_projects,
    projects.create_project,
    projects.get_project,
    forms.list_forms,
    forms.upload_form,
    forms.get_form,
    forms.create_draft,
    forms.publish_draft,
    forms.update_form,
    forms.list_draft_attachments,
    forms.upload_draft_attachment,
    app_users.list_app_users,
    app_users.post_app_user,
    app_users.revoke_app_user,
    app_users.app_user_qr,
    app_users.list_form_app_users,
    app_users.assign_app_user,
    app_users.unassign_app_user,
    screenings.get_classification,
]
