"""The administration pages (users, roles, passwords, projects, the audit log), in-process,
and their REST twins (PATCH /v1/projects/{id}, DELETE /v1/users/{id}) over the same services."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.integration.test_pages_infra import assert_no_english
from tests.pages_client import anonymous, signed_in


@pytest.fixture(scope="module")
async def admin(client, pool):
    # the pages' language here comes from the browser (the cookie): the account must not hold
    # one saved by another module's login in another language (remember_login_language)
    await pool.execute("UPDATE users SET locale = NULL WHERE email = $1", ADMIN_EMAIL)
    return await signed_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)


async def can_log_in(client, email: str, password: str) -> bool:
    response = await client.post("/v1/sessions", json={"email": email, "password": password})
    return response.status_code == 200


async def test_admin_creates_a_user_gives_a_role_resets_and_deactivates(client, admin, default_project_id, pool) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@test.example"
    created = await admin.post(client, "/admin/users", {"email": email, "display_name": "Нигина <i>R</i>"})
    assert created.status_code == 201
    password = re.search(r'<code class="secret">([^<]+)</code>', created.text).group(1)
    assert "Нигина &lt;i&gt;R&lt;/i&gt;" in created.text
    assert await can_log_in(client, email, password)
    user_id = await pool.fetchval("SELECT actor_id FROM users WHERE email = $1", email)
    again = await admin.post(client, "/admin/users", {"email": email.upper(), "password": "long-enough-pw"})
    assert again.status_code == 409 and 'role="alert"' in again.text
    short = await admin.post(client, "/admin/users", {"email": f"x{email}", "password": "short"})
    assert short.status_code == 400
    # roles
    given = await admin.post(client, f"/admin/users/{user_id}/roles",
                             {"project_id": str(default_project_id), "role": "researcher"})
    assert given.status_code == 303
    assert await pool.fetchval("SELECT role FROM assignments WHERE actor_id = $1", user_id) == "researcher"
    listing = await admin.get(client, "/admin/users")
    assert email in listing.text and "Default: Researcher" in listing.text
    bad_role = await admin.post(client, f"/admin/users/{user_id}/roles",
                                {"project_id": str(default_project_id), "role": "king"})
    assert bad_role.status_code == 400
    removed = await admin.post(client, f"/admin/users/{user_id}/roles/remove",
                               {"project_id": str(default_project_id), "role": "researcher"})
    assert removed.status_code == 303
    assert await pool.fetchval("SELECT count(*) FROM assignments WHERE actor_id = $1", user_id) == 0
    # password
    reset = await admin.post(client, f"/admin/users/{user_id}/password", {"password": "a-new-password-1"})
    assert reset.status_code == 200 and 'role="status"' in reset.text
    assert not await can_log_in(client, email, password)
    assert await can_log_in(client, email, "a-new-password-1")
    # deactivate: no more login; the audit log says so
    gone = await admin.post(client, f"/admin/users/{user_id}/deactivate")
    assert gone.status_code == 303 and gone.headers["location"] == "/admin/users"
    assert not await can_log_in(client, email, "a-new-password-1")
    assert email not in (await admin.get(client, "/admin/users")).text
    log = await admin.get(client, "/admin/audits?action=user")
    assert log.status_code == 200
    for action in ("user.create", "user.assignment.create", "user.assignment.delete", "user.password.reset", "user.delete"):
        assert action in log.text
    assert "project.create" not in log.text


async def test_admin_cannot_deactivate_themselves(client, admin, pool) -> None:
    me = await pool.fetchval("SELECT actor_id FROM users WHERE email = $1", ADMIN_EMAIL)
    page = await admin.get(client, f"/admin/users/{me}")
    assert 'id="deactivate"' not in page.text
    refused = await admin.post(client, f"/admin/users/{me}/deactivate")
    assert refused.status_code == 403
    assert await can_log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)


async def test_projects_create_rename_archive(client, admin, pool, admin_headers) -> None:
    name = f"Проект {uuid.uuid4().hex[:6]}"
    assert (await admin.post(client, "/admin/projects", {"name": name})).status_code == 303
    pid = await pool.fetchval("SELECT id FROM projects WHERE name = $1", name)
    # names may repeat, as in ODK Central (issue 12, migration 0013): a second project
    duplicate = await admin.post(client, "/admin/projects", {"name": name})
    assert duplicate.status_code == 303
    assert await pool.fetchval("SELECT count(*) FROM projects WHERE name = $1", name) == 2
    renamed = await admin.post(client, f"/admin/projects/{pid}", {"action": "rename", "name": name + " 2"})
    assert renamed.status_code == 303
    assert await pool.fetchval("SELECT name FROM projects WHERE id = $1", pid) == name + " 2"
    await admin.post(client, f"/admin/projects/{pid}", {"action": "archive", "name": ""})
    assert await pool.fetchval("SELECT archived FROM projects WHERE id = $1", pid) is True
    page = await admin.get(client, "/admin/projects")
    assert f'data-project="{pid}" class="archived"' in page.text
    # REST: the same service
    patched = await client.patch(f"/v1/projects/{pid}", json={"archived": False, "name": name + " 3"},
                                 headers=admin_headers)
    assert patched.status_code == 200 and patched.json()["archived"] is False and patched.json()["name"] == name + " 3"
    blank = await client.patch(f"/v1/projects/{pid}", json={"name": "  "}, headers=admin_headers)
    assert blank.status_code == 400
    log = await admin.get(client, "/admin/audits?action=project")
    assert "project.update" in log.text and "project.create" in log.text


async def test_rest_delete_user(client, admin_headers, make_user) -> None:
    user = await make_user(None, None)
    assert (await client.delete(f"/v1/users/{user['id']}", headers=admin_headers)).status_code == 200
    assert not await can_log_in(client, user["email"], user["password"])
    assert (await client.get("/v1/users/current", headers=user["headers"])).status_code == 401
    assert (await client.delete(f"/v1/users/{user['id']}", headers=admin_headers)).status_code == 404


async def test_only_administrators_reach_the_admin_pages(client, make_user, default_project_id) -> None:
    manager = await make_user("manager", default_project_id)
    browser = await signed_in(client, manager["email"], manager["password"])
    for path in ("/admin/users", "/admin/projects", "/admin/audits", "/admin/users/1"):
        assert (await browser.get(client, path)).status_code == 403
    assert (await browser.post(client, "/admin/projects", {"name": "nope"})).status_code == 403
    home = await browser.get(client, "/dashboard")
    assert 'href="/admin/users"' not in home.text
    visitor = await anonymous(client)
    assert (await visitor.get(client, "/admin/users")).status_code == 303


@pytest.mark.parametrize("locale", ["ru", "tg"])
async def test_admin_pages_in_russian_and_tajik(client, admin, pool, locale) -> None:
    admin.lang = locale
    try:
        me = await pool.fetchval("SELECT actor_id FROM users WHERE email = $1", ADMIN_EMAIL)
        user_text = [r["display_name"] for r in await pool.fetch("SELECT display_name FROM actors")]
        user_text += [r["name"] for r in await pool.fetch("SELECT name FROM projects")]
        for path in ("/admin/users", f"/admin/users/{me}", "/admin/projects", "/admin/audits"):
            page = await admin.get(client, path)
            assert page.status_code == 200 and f'<html lang="{locale}">' in page.text
            assert_no_english(page.text, f"{locale} {path}", user_text)
    finally:
        admin.lang = None
