"""/metrics: Prometheus's text format, read with the token (or on the machine itself, which
tests/production/test_production.py checks through Caddy), refused otherwise."""

from __future__ import annotations

import dataclasses

from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app

TOKEN = "metrics-token-for-tests"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_with_the_token_and_refused_without(settings, pool) -> None:
    app = create_app(dataclasses.replace(settings, metrics_token=TOKEN))
    async with AsyncTestClient(app=app, timeout=60) as client:
        assert (await client.get("/health")).status_code == 200
        for pid in (12345, 67890):
            await client.get(f"/v1/projects/{pid}")
        refused = await client.get("/metrics")  # the test client's peer is no loopback address
        assert refused.status_code == 403
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(answer.text)
    health = [v for (name, labels), v in found.items() if name == "fieldsurvey_requests_total"
              and dict(labels) == {"method": "GET", "route": "/health", "status": "200"}]
    assert health == [1.0]
    # a route's template, not its path: one series for both projects
    routes = {dict(labels)["route"] for name, labels in found
              if name == "fieldsurvey_requests_total"}
    assert not any("12345" in r or "67890" in r for r in routes)
    projects = [(dict(labels), v) for (name, labels), v in found.items()
                if name == "fieldsurvey_requests_total" and dict(labels)["route"].startswith(
                    "/v1/projects/{") and dict(labels)["route"].count("/") == 3]
    assert len(projects) == 1 and projects[0][1] == 2.0, projects
    assert any(name == "fieldsurvey_request_duration_seconds_bucket" for name, _ in found)
    # the scrapes themselves are not counted
    assert not any(name == "fieldsurvey_requests_total" and dict(labels).get("route") == "/metrics"
                   for name, labels in found)
    newest = await pool.fetchval("SELECT max(published_at) FROM publications")
    ages = [v for (name, _), v in found.items()
            if name == "fieldsurvey_newest_publication_age_seconds"]
    if newest is None:
        assert ages == []
    else:
        assert len(ages) == 1 and ages[0] >= 0
