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
    token = {"Authorization": f"Bearer {TOKEN}"}
    async with AsyncTestClient(app=app, timeout=60) as client:
        refused = await client.get("/metrics")  # the test client's peer is no loopback address
        assert refused.status_code == 401
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        # the counts are the process's (other tests' apps count too): compare before and after
        before = samples((await client.get("/metrics", headers=token)).text)
        assert (await client.get("/health")).status_code == 200
        for pid in (12345, 67890):
            await client.get(f"/v1/projects/{pid}")
        answer = await client.get("/metrics", headers=token)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(answer.text)

    def grown(labels: dict) -> float:
        key = ("fieldsurvey_requests_total", tuple(sorted(labels.items())))
        return found.get(key, 0) - before.get(key, 0)

    assert grown({"method": "GET", "route": "/health", "status": "200"}) == 1
    # a route's template, not its path: one series for both projects
    routes = {dict(labels)["route"] for name, labels in found
              if name == "fieldsurvey_requests_total"}
    assert not any("12345" in r or "67890" in r for r in routes)
    assert grown({"method": "GET", "route": "/v1/projects/{project_id}", "status": "401"}) == 2
    assert any(name == "fieldsurvey_request_duration_seconds_bucket" for name, _ in found)
    # the scrapes themselves are not counted
    assert "/metrics" not in routes
    newest = await pool.fetchval("SELECT max(published_at) FROM publications")
    ages = [v for (name, _), v in found.items()
            if name == "fieldsurvey_newest_publication_age_seconds"]
    if newest is None:
        assert ages == []
    else:
        assert len(ages) == 1 and ages[0] >= 0
