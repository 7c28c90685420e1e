"""The case list (`cases.csv`, the entity list a follow-up form reads) reaches those who may
fill, try or edit the form in the browser, as Collect gets it over OpenRosa, and never anyone
who merely holds a public link (hardening, third round)."""

from __future__ import annotations

import csv
import io
import uuid
from urllib.parse import quote

import pytest

from tests.cases_seed import seed_case
from tests.pages_client import anonymous, signed_in

FOLLOWUP = "support_center_followup"


@pytest.fixture(scope="module")
async def centre(client, pool, admin_headers, make_user):
    made = await client.post("/v1/projects", json={"name": f"caselist-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    seeded = await seed_case(client, pool, admin_headers, pid)
    manager = await make_user("manager", pid)
    collector = await make_user("collector", pid)
    return {"pid": pid, **seeded, "headers": admin_headers, "manager_headers": manager["headers"],
            "manager": await signed_in(client, manager["email"], manager["password"]),
            "collector": await signed_in(client, collector["email"], collector["password"])}


def codes(response) -> set[str]:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["x-content-type-options"] == "nosniff"
    return {row["label"] for row in csv.DictReader(io.StringIO(response.text))}


async def test_fill_preview_and_edit_get_the_case_list(client, centre):
    base = f"/dashboard/projects/{centre['pid']}/forms/{FOLLOWUP}"
    assert centre["code"] in codes(
        await centre["collector"].get(client, f"{base}/fill/attachments/cases.csv"))
    assert centre["code"] in codes(
        await centre["manager"].get(client, f"{base}/fill/attachments/cases.csv"))
    draft = await client.post(f"/v1/projects/{centre['pid']}/forms/{FOLLOWUP}/draft",
                              headers=centre["headers"])
    assert draft.status_code == 200, draft.text
    assert centre["code"] in codes(
        await centre["manager"].get(client, f"{base}/preview/attachments/cases.csv"))
    edit = f"{base}/submissions/{quote(centre['ids'][2], safe='')}/edit/attachments/cases.csv"
    assert centre["code"] in codes(await centre["manager"].get(client, edit))
    # who may not fill the form gets no case list
    assert (await centre["collector"].get(client, edit)).status_code in (403, 404)
    visitor = await anonymous(client)
    assert (await visitor.get(client, f"{base}/fill/attachments/cases.csv")).status_code in (
        302, 303, 401, 403)


async def test_a_form_that_reads_the_case_list_gets_no_public_link(client, centre, pool):
    rest = f"/v1/projects/{centre['pid']}/forms/{FOLLOWUP}/public-links"
    refused = await client.post(rest, json={"displayName": "Desk"},
                                headers=centre["manager_headers"])
    assert refused.status_code == 409 and refused.json()["slug"] == "public-link-entity-form"
    page = f"/dashboard/projects/{centre['pid']}/forms/{FOLLOWUP}/public-links"
    shown = await centre["manager"].get(client, page)
    assert shown.status_code == 200 and 'id="links-entity-warning"' in shown.text
    assert 'id="link-create"' not in shown.text
    posted = await centre["manager"].post(client, page, {"display_name": "Desk"})
    assert posted.status_code == 409 and 'id="links-entity-warning"' in posted.text
    # a link made before the form read the list (here: written as an older version made it)
    form_id = await pool.fetchval("SELECT id FROM forms WHERE project_id = $1 AND "
                                  "xml_form_id = $2", centre["pid"], FOLLOWUP)
    token = f"t{uuid.uuid4().hex}{uuid.uuid4().hex}"
    await pool.execute(
        "WITH a AS (INSERT INTO actors (type, display_name) VALUES ('public_link', 'Old') "
        "RETURNING id) INSERT INTO public_links (actor_id, form_id, once, token) "
        "SELECT id, $1, false, $2 FROM a", form_id, token)
    visitor = await anonymous(client)
    leaked = await visitor.get(client, f"/f/{token}/attachments/cases.csv")
    assert leaked.status_code == 404 and centre["code"] not in leaked.text
    assert refused.status_code == 409  # and the form's own page still opens for the link
