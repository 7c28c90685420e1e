"""Contract: every REST error is application/problem+json (RFC 9457) with one shape."""

from __future__ import annotations

from api.problems import CATALOGUE, Problem
from tests.xlsforms import XLSX

REQUIRED = {"type": str, "title": str, "status": int, "detail": str, "code": str}


def check_shape(response) -> None:
    assert response.status_code >= 400
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    for key, kind in REQUIRED.items():
        assert isinstance(body.get(key), kind), (key, body)
    assert body["status"] == response.status_code
    assert body["type"] == f"urn:fieldsurvey:problem:{body['code']}"
    assert body["code"] in CATALOGUE


def test_catalogue_entries_are_well_formed() -> None:
    for slug, (status, title) in CATALOGUE.items():
        assert 400 <= status <= 599 and title.endswith("."), slug
        problem = Problem(slug)
        assert problem.to_json()["status"] == status


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
        await client.post("/v1/projects", json={"name": "Default"}, headers=admin_headers),
        await client.get("/v1/projects/notanumber", headers=admin_headers),
    ]
    statuses = set()
    for response in responses:
        check_shape(response)
        statuses.add(response.status_code)
    assert {400, 401, 404, 405, 409} <= statuses
