"""Contract: every REST error is application/problem+json (RFC 9457) with one shape, carrying
ODK Central's own members (`code` as in central-backend's lib/util/problem.js, `message`,
`details` where Central gives them) beside ours (`slug`)."""

from __future__ import annotations

import math

from api.problems import CATALOGUE, Problem
from tests.xlsforms import XLSX, simple_form

REQUIRED = {
    "type": str, "title": str, "status": int, "detail": str, "code": float, "message": str,
    "slug": str,
}


def check_shape(response) -> dict:
    assert response.status_code >= 400
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    for key, kind in REQUIRED.items():
        assert isinstance(body.get(key), kind), (key, body)
    assert body["status"] == response.status_code
    assert math.floor(body["code"]) == response.status_code, body
    assert body["message"] == body["detail"]
    assert body["type"] == f"urn:fieldsurvey:problem:{body['slug']}"
    assert body["slug"] in CATALOGUE
    return body


def test_catalogue_entries_are_well_formed() -> None:
    codes: dict[float, int] = {}
    for slug, (status, code, title) in CATALOGUE.items():
        assert 400 <= status <= 599 and title.endswith("."), slug
        assert math.floor(code) == status and code != status, slug
        problem = Problem(slug)
        body = problem.to_json()
        assert body["status"] == status and body["code"] == code and body["slug"] == slug
        codes[code] = status


async def test_error_responses_share_one_shape(client, admin_headers, default_project_id) -> None:
    pid = default_project_id
    responses = [
        await client.get("/v1/no/such/route"),
        await client.put("/v1/projects", headers=admin_headers),  # method not allowed
        await client.get("/v1/projects"),  # no credentials
        await client.get("/v1/projects", headers={"Authorization": "Bearer bad"}),
        await client.post("/v1/sessions", content=b"{not json", headers={"Content-Type": "application/json"}),
        await client.post("/v1/sessions", json={"email": "x"}),  # missing field
        await client.post("/v1/sessions", json={"email": "x@y.z", "password": "p"}),
        await client.get(f"/v1/projects/{pid}/forms/none", headers=admin_headers),
        await client.get("/v1/projects/99999", headers=admin_headers),
        await client.post(f"/v1/projects/{pid}/forms", content=b"PK\x03\x04junk",
                          headers={**admin_headers, "Content-Type": XLSX}),
        await client.post(f"/v1/projects/{pid}/forms", content=b"<x/>",
                          headers={**admin_headers, "Content-Type": "application/xml"}),
        await client.post(f"/v1/projects/{pid}/forms", content=b"<x/>",
                          headers={**admin_headers, "Content-Type": "text/plain"}),
        await client.get("/v1/projects/notanumber", headers=admin_headers),
        await client.get("/no-api-version-here"),
    ]
    statuses = set()
    for response in responses:
        check_shape(response)
        statuses.add(response.status_code)
    assert {400, 401, 404, 405} <= statuses


async def test_central_codes_that_clients_act_on(client, admin_headers, default_project_id) -> None:
    """The numbers pyodk, Collect and central-frontend branch on."""
    pid = default_project_id
    headers = {**admin_headers, "Content-Type": XLSX}
    # 409.3: pyodk's "form exists" test (its e2e setup relies on it), with Central's details
    first = await client.post(f"/v1/projects/{pid}/forms", content=simple_form("codes_form", "1"),
                              headers=headers)
    assert first.status_code == 200, first.text
    again = check_shape(await client.post(
        f"/v1/projects/{pid}/forms", content=simple_form("codes_form", "1"), headers=headers
    ))
    assert again["code"] == 409.3
    assert again["details"] == {"fields": ["projectId", "xmlFormId"], "values": [pid, "codes_form"]}
    # 404.1 for a missing resource and an unknown /v1 route; 404.2 without an API version
    assert check_shape(await client.get(f"/v1/projects/{pid}/forms/nope", headers=admin_headers))["code"] == 404.1
    assert check_shape(await client.get("/v1/not/a/route", headers=admin_headers))["code"] == 404.1
    assert check_shape(await client.get("/nothing/here"))["code"] == 404.2
    # 401.2 bad credentials; 400.1 unparseable JSON; 400.15 an XLSForm that cannot be converted
    bad = await client.post("/v1/sessions", json={"email": "nobody@x.example", "password": "wrong-wrong"})
    assert check_shape(bad)["code"] == 401.2
    garbage = await client.post("/v1/sessions", content=b"{not json",
                                headers={"Content-Type": "application/json"})
    assert check_shape(garbage)["code"] == 400.1
    broken = await client.post(f"/v1/projects/{pid}/forms", content=b"PK\x03\x04junk", headers=headers)
    assert check_shape(broken)["code"] == 400.15
