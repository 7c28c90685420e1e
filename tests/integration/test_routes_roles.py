"""Every REST route x every role: a role without the right gets 403, a role with it does not.

The table below must list every route of the app; a new route fails this test until its rule
is written here. Requests use a project the role is assigned to, and objects that do not exist
(so that allowed calls end in 404/400 and change nothing).
"""

from __future__ import annotations

import re

import pytest

from api.auth import ROLE_PERMISSIONS
from api.pages.web import is_page_path

# (method, path) -> rule: a permission name, or "public", "authenticated", "admin".
ROUTE_RULES: dict[tuple[str, str], str] = {
    ("GET", "/health"): "public",
    ("POST", "/v1/projects/{project_id:int}/webhooks"): "webhook.manage",
    ("GET", "/v1/projects/{project_id:int}/webhooks"): "webhook.manage",
    ("DELETE", "/v1/projects/{project_id:int}/webhooks/{webhook_id:int}"): "webhook.manage",
    ("GET", "/v1/projects/{project_id:int}/webhooks/{webhook_id:int}/deliveries"): "webhook.manage",
    ("POST", "/v1/projects/{project_id:int}/webhooks/{webhook_id:int}/deliveries/{delivery_id:int}/resend"): "webhook.manage",  # whether the server and its database answer
    # on the machine itself or with FIELDSURVEY_METRICS_TOKEN, never by role (test_metrics)
    ("GET", "/metrics"): "metrics token",
    ("POST", "/v1/sessions"): "public",
    ("DELETE", "/v1/sessions/{token:str}"): "authenticated",
    ("GET", "/v1/users/current"): "user",
    ("GET", "/v1/users"): "admin",
    ("POST", "/v1/users"): "admin",
    ("DELETE", "/v1/users/{actor_id:int}"): "admin",
    ("PATCH", "/v1/projects/{project_id:int}"): "admin",
    ("POST", "/v1/projects/{project_id:int}/assignments/{role:str}/{actor_id:int}"): "app_user.manage",
    ("DELETE", "/v1/projects/{project_id:int}/assignments/{role:str}/{actor_id:int}"): "admin",
    ("GET", "/v1/projects/{project_id:int}/assignments/scopes/{actor_id:int}"): "admin",
    ("PUT", "/v1/projects/{project_id:int}/assignments/scopes/{actor_id:int}"): "admin",
    ("DELETE", "/v1/projects/{project_id:int}/assignments/scopes/{actor_id:int}"): "admin",
    ("GET", "/v1/projects"): "authenticated",
    ("POST", "/v1/projects"): "admin",
    ("GET", "/v1/projects/{project_id:int}"): "project.read",
    ("GET", "/v1/projects/{project_id:int}/forms"): "form.read",
    ("POST", "/v1/projects/{project_id:int}/forms"): "form.create",
    ("GET", "/v1/projects/{project_id:int}/forms/{form_ref:str}"): "form.read",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft"): "form.update",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft/publish"): "form.update",
    ("PATCH", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}"): "form.update",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft/attachments"): "form.update",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/fields"): "form.read",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/versions"): "form.read",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/versions/{version_ref:str}"): "form.read",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft/attachments/{name:str}"): "form.update",
    ("GET", "/v1/projects/{project_id:int}/app-users"): "app_user.manage",
    ("POST", "/v1/projects/{project_id:int}/app-users"): "app_user.manage",
    ("DELETE", "/v1/projects/{project_id:int}/app-users/{actor_id:int}"): "app_user.manage",
    ("PATCH", "/v1/projects/{project_id:int}/app-users/{actor_id:int}"): "app_user.manage",
    ("GET", "/v1/projects/{project_id:int}/app-users/{actor_id:int}/qr.png"): "app_user.manage",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/assignments/{role:str}"): "app_user.manage",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/assignments/{role:str}/{actor_id:int}"): "app_user.manage",
    ("DELETE", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/assignments/{role:str}/{actor_id:int}"): "app_user.manage",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/classification"): "submission.read",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions.csv.zip"): "export",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions.csv.zip"): "export",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions.xlsx"): "export",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions.excel.csv.zip"): "export",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/report"): "summary.read",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/report.xlsx"): "summary.read",
    # Submissions (Central's REST data API), OData, audit log
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions"): "submission.read",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions"): "submission.update",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}"): "submission.read",
    ("PUT", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}"): "submission.update",
    ("PATCH", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}"): "submission.update",
    ("DELETE", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}"): "submission.update",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/restore"): "submission.update",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/erase"): "submission.update",
    ("POST", "/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}/erase"): "entity.update",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/attachments"): "submission.read",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/attachments/{name:str}"): "submission.read",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/attachments/{name:str}"): "submission.update",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/comments"): "submission.read",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/comments"): "submission.update",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/versions"): "submission.read",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/versions/{version_id:str}"): "submission.read",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/audits"): "submission.read",
    ("GET", "/v1/projects/{project_id:int}/forms/{form_svc:str}/{table:str}"): "submission.read",
    ("GET", "/v1/projects/{project_id:int}/forms/{form_svc:str}/{table:str}/{nav:path}"): "submission.read",
    ("GET", "/v1/audits"): "admin",
    # browser filling: public access links, draft test submissions (preview)
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/public-links"): "form.update",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/public-links"): "form.update",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/public-links/{link_id:int}"): "form.update",
    ("DELETE", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/public-links/{link_id:int}"): "form.update",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft/submissions"): "form.update",
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft/submissions"): "form.update",
    # summaries: counts only, with disclosure control for roles without microdata
    ("GET", "/v1/projects/{project_id:int}/summaries/risk"): "summary.read",
    ("GET", "/v1/projects/{project_id:int}/summaries/risk.xlsx"): "summary.read",
    ("GET", "/v1/projects/{project_id:int}/summaries/reintegration"): "summary.read",
    # Entity lists and entities: read as submissions are read, written as they are edited
    ("GET", "/v1/projects/{project_id:int}/datasets"): "entity.read",
    ("POST", "/v1/projects/{project_id:int}/datasets"): "dataset.update",
    ("GET", "/v1/projects/{project_id:int}/datasets/{name:str}"): "entity.read",
    ("PATCH", "/v1/projects/{project_id:int}/datasets/{name:str}"): "dataset.update",
    ("POST", "/v1/projects/{project_id:int}/datasets/{name:str}/properties"): "dataset.update",
    ("GET", "/v1/projects/{project_id:int}/datasets/{name:str}/entities"): "entity.read",
    ("POST", "/v1/projects/{project_id:int}/datasets/{name:str}/entities"): "entity.update",
    ("GET", "/v1/projects/{project_id:int}/datasets/{name:str}/entities.csv"): "entity.read",
    ("GET", "/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}"): "entity.read",
    ("PATCH", "/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}"): "entity.update",
    ("DELETE", "/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}"): "entity.update",
    ("POST", "/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}/restore"): "entity.update",
    ("GET", "/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}/versions"): "entity.read",
    ("GET", "/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}/diffs"): "entity.read",
    ("GET", "/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}/audits"): "entity.read",
    ("GET", "/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}/timeline"): "entity.read",
    ("GET", "/v1/projects/{project_id:int}/datasets/{dataset_svc:str}/{table:str}"): "entity.read",
    # support-centre cases: ownership, referrals and transfers
    ("GET", "/v1/projects/{project_id:int}/cases/{uuid:str}"): "entity.read",
    ("PATCH", "/v1/projects/{project_id:int}/cases/{uuid:str}"): "entity.update",
    ("POST", "/v1/projects/{project_id:int}/cases/{uuid:str}/referrals"): "entity.update",
    ("PATCH", "/v1/projects/{project_id:int}/cases/{uuid:str}/referrals/{referral_id:int}"): "entity.update",
    ("GET", "/v1/projects/{project_id:int}/referrals"): "entity.read",
    # OpenRosa (XML errors; tested for shape in test_openrosa.py)
    ("GET", "/v1/projects/{project_id:int}/datasets/{name:str}/integrity"): "form.download",
    ("GET", "/v1/projects/{project_id:int}/formList"): "form.list",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/manifest"): "form.download",
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/attachments/{name:str}"): "form.download",
    ("POST", "/v1/projects/{project_id:int}/submission"): "submission.create",
}
OPENROSA_ROUTES = {
    ("GET", "/v1/projects/{project_id:int}/datasets/{name:str}/integrity"),
    ("GET", "/v1/projects/{project_id:int}/formList"),
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/manifest"),
    ("GET", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/attachments/{name:str}"),
    ("POST", "/v1/projects/{project_id:int}/submission"),
}

# Bodies that parse but cannot succeed, so allowed calls change nothing.
BODIES: dict[tuple[str, str], dict] = {
    ("POST", "/v1/sessions"): {"email": "nobody@test.example", "password": "x"},
    ("POST", "/v1/users"): {"email": "not-an-email", "password": "x"},
    ("POST", "/v1/projects"): {"name": " "},
    ("PATCH", "/v1/projects/{project_id:int}"): {"name": " "},
    ("PATCH", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}"): {"state": "bogus"},
    ("POST", "/v1/projects/{project_id:int}/app-users"): {"displayName": " "},
    ("PATCH", "/v1/projects/{project_id:int}/app-users/{actor_id:int}"): {"centre": None},
    ("PUT", "/v1/projects/{project_id:int}/assignments/scopes/{actor_id:int}"): {},
    ("POST", "/v1/projects/{project_id:int}/webhooks"): {"url": "ftp://x", "events": [], "secret": ""},
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/public-links"): {"displayName": " "},
    ("PATCH", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}"): {"reviewState": "approved"},
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/comments"): {"body": "x"},
    ("POST", "/v1/projects/{project_id:int}/datasets"): {"name": "__not_valid"},
    ("PATCH", "/v1/projects/{project_id:int}/cases/{uuid:str}"): {"centre": "dushanbe"},
    ("POST", "/v1/projects/{project_id:int}/cases/{uuid:str}/referrals"): {"toCentre": "dushanbe"},
    ("PATCH", "/v1/projects/{project_id:int}/cases/{uuid:str}/referrals/{referral_id:int}"): {"state": "accepted"},
    ("POST", "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/erase"): {"confirm": "x"},
    ("POST", "/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}/erase"): {"confirm": "x"},
}

ROLES = ["admin", "manager", "researcher", "ministry", "collector", "none"]
OPENROSA_PREFIXES = ("/v1/key/", "/schema")  # OpenRosa has its own tests; /schema is the OpenAPI doc
# The HTML pages (every path outside /v1, api.pages.web.is_page_path) answer with a redirect to
# /login or a 403 page, not problem+json: tests/integration/test_summaries_pages.py and the page
# tests walk them per role.


def app_routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        for method in getattr(route, "methods", ()):
            if method in ("HEAD", "OPTIONS"):
                continue
            found.add((method, route.path_format_raw if hasattr(route, "path_format_raw") else route.path))
    return found


def concrete_path(template: str, project_id: int) -> str:
    values = {
        "project_id": str(project_id),
        "token": "no-such-session-token",
        "role": "collector",
        "actor_id": "999999",
        "xml_form_id": "no_such_form",
        "form_ref": "no_such_form",
        "name": "no_such_file.csv",
        "instance_id": "uuid:no-such-instance",
        "uuid": "00000000-0000-4000-8000-000000000000",
        "dataset_svc": "no_such_list.svc",
        "link_id": "999999",
        "referral_id": "999999",
        "webhook_id": "999999",
        "delivery_id": "999999",
    }
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "x"), template)


def allowed(rule: str, role: str) -> bool:
    if rule == "public":
        return True
    if rule == "metrics token":
        return False
    if role == "none":
        return False
    if rule in ("authenticated", "user"):
        return True
    if role == "admin":
        return True
    if rule == "admin":
        return False
    return rule in ROLE_PERMISSIONS[role]


async def test_every_route_has_a_rule(client) -> None:
    routes = {(m, p) for m, p in app_routes(client.app)
              if not p.startswith(OPENROSA_PREFIXES) and not is_page_path(p)}
    listed = set(ROUTE_RULES)
    assert routes - listed == set(), "routes without a rule in ROUTE_RULES"
    assert listed - routes == set(), "rules for routes that do not exist"


@pytest.fixture(scope="module")
async def role_headers(make_user, default_project_id) -> dict[str, dict]:
    headers = {"none": {}}
    for role in ROLES:
        if role != "none":
            headers[role] = (await make_user(role, default_project_id))["headers"]
    return headers


@pytest.mark.parametrize("role", ROLES)
async def test_route_guards_per_role(client, role, role_headers, default_project_id) -> None:
    failures = []
    for (method, template), rule in sorted(ROUTE_RULES.items()):
        path = concrete_path(template, default_project_id)
        kwargs = {"headers": {**role_headers[role], "X-OpenRosa-Version": "1.0"}}
        body = BODIES.get((method, template))
        if body is not None:
            kwargs["json"] = body
        response = await client.request(method, path, **kwargs)
        if allowed(rule, role):
            if response.status_code in (401, 403) and not (
                template == "/v1/sessions" and response.status_code == 401
            ):
                failures.append(f"{role} {method} {path}: expected allowed, got {response.status_code}")
        else:
            expected = 401 if role == "none" else 403
            if response.status_code != expected:
                failures.append(f"{role} {method} {path}: expected {expected}, got {response.status_code}")
            elif (method, template) not in OPENROSA_ROUTES:
                assert response.headers["content-type"].startswith("application/problem+json")
    assert failures == []


async def test_roles_do_not_leak_across_projects(client, make_user, admin_headers) -> None:
    other = await client.post("/v1/projects", json={"name": "Other project"}, headers=admin_headers)
    assert other.status_code == 200
    other_id = other.json()["id"]
    manager_elsewhere = await make_user("manager", 1)
    response = await client.get(f"/v1/projects/{other_id}/forms", headers=manager_elsewhere["headers"])
    assert response.status_code == 403
    listed = await client.get("/v1/projects", headers=manager_elsewhere["headers"])
    assert other_id not in [p["id"] for p in listed.json()]


async def test_form_routes_resolve_for_every_bundled_form(client, admin_headers, default_project_id) -> None:
    """No literal path segment may shadow the routes of a form whose id equals it."""
    for form in (await client.get(f"/v1/projects/{default_project_id}/forms", headers=admin_headers)).json():
        base = f"/v1/projects/{default_project_id}/forms/{form['xmlFormId']}"
        for path in ("", ".xml", "/assignments/app-user", "/draft/attachments"):
            response = await client.get(base + path, headers=admin_headers)
            unrouted = response.status_code == 404 and response.json()["slug"] == "not-found"
            assert not unrouted, f"{base + path} is not routed"
