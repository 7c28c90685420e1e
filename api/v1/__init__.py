"""REST API shaped after ODK Central's (/v1/...)."""

from api.v1 import forms, projects, sessions

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
]
