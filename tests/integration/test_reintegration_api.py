"""GET /v1/projects/{pid}/summaries/reintegration: counts of cases for ministries, under the
risk summaries' disclosure control, never a case code."""

from __future__ import annotations

import uuid

from exports.disclosure import MAX_ADJUSTMENT as D
from tests.summaries_seed import publish_now


async def test_reintegration_summary_roles_and_disclosure(client, admin_headers, make_user, pool,
                                                          settings) -> None:
    made = await client.post("/v1/projects", json={"name": f"reint-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    await client.post(f"/v1/projects/{pid}/datasets", json={"name": "cases"}, headers=admin_headers)
    for prop in ("centre", "opened", "stage", "status", "last_visit", "close_reason"):
        await client.post(f"/v1/projects/{pid}/datasets/cases/properties", json={"name": prop},
                          headers=admin_headers)
    # dushanbe: 12 opened in Q1, 11 in Q2; khujand: 2 in Q1 (+1 closed below), 10 in Q2
    plan = [("dushanbe", "2026-02-10")] * 12 + [("dushanbe", "2026-05-10")] * 11 + [
        ("khujand", "2026-02-10")] * 2 + [("khujand", "2026-05-10")] * 10
    rows = [{"label": f"DU-2026-{n:06X}",
             "data": {"centre": centre, "opened": opened,
                      "stage": "in_shelter" if n % 2 else "receiving_services",
                      "status": "open"}} for n, (centre, opened) in enumerate(plan)]
    truth = {("dushanbe", "2026-Q1"): 12, ("dushanbe", "2026-Q2"): 11,
             ("khujand", "2026-Q1"): 3, ("khujand", "2026-Q2"): 10,
             ("other", "2026-Q1"): 0, ("other", "2026-Q2"): 0}
    rows.append({"label": "KH-2026-CLOSED", "data": {
        "centre": "khujand", "opened": "2026-03-01", "stage": "case_closed", "status": "closed",
        "last_visit": "2026-08-01", "close_reason": "referred"}})
    bulk = await client.post(f"/v1/projects/{pid}/datasets/cases/entities",
                             json={"entities": rows, "source": {"name": "seed"}},
                             headers=admin_headers)
    assert bulk.status_code == 200, bulk.text
    ministry = await make_user("ministry", pid)
    manager = await make_user("manager", pid)
    await publish_now(pool, settings, pid)
    url = f"/v1/projects/{pid}/summaries/reintegration"

    opened = await client.get(url, headers=ministry["headers"])
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["disclosureControl"] is True and body["k"] >= 5
    assert body["by"] == ["centre", "quarter"] and body["measure"] == "opened"
    cell = {(c["centre"], c["quarter"]): c["count"] for c in body["cells"]}
    assert set(cell) == set(truth)
    assert cell[("khujand", "2026-Q1")] is None  # 3 cases: suppressed
    for key, n in cell.items():  # what is shown is near the truth, and never a small count
        assert n is None or (abs(n - truth[key]) <= D and n >= body["k"])
    assert body["method"]["maxAdjustment"] == D
    # the same cases, the same published values (cell keys), however often it is asked
    assert (await client.get(url, headers=ministry["headers"])).json() == body
    assert sum(n is None for n in cell.values()) >= 2  # and the small one cannot be derived
    grand = next(t for t in body["totals"] if set(t) == {"count", "suppressed"})
    assert grand["count"] is None or abs(grand["count"] - 36) <= D
    assert "DU-2026" not in opened.text and "KH-2026" not in opened.text

    active = (await client.get(f"{url}?measure=active&by=stage",
                               headers=ministry["headers"])).json()
    assert abs({c["stage"]: c["count"] for c in active["cells"]}["in_shelter"] - 17) <= D
    assert abs(active["totals"][-1]["count"] - 35) <= D
    closed = (await client.get(f"{url}?measure=closed&by=close_reason",
                               headers=ministry["headers"])).json()
    assert {c["close_reason"]: c["count"] for c in closed["cells"]}["referred"] is None

    refused = await client.get(f"{url}?disclosure=off", headers=ministry["headers"])
    assert refused.status_code == 403
    raw = (await client.get(f"{url}?disclosure=off&measure=closed&by=close_reason",
                            headers=manager["headers"])).json()
    assert raw["disclosureControl"] is False
    assert {c["close_reason"]: c["count"] for c in raw["cells"]}["referred"] == 1
    for bad in ("measure=all", "by=case_code", "by=centre,stage,sex", "measure=active&by=quarter",
                "colour=red"):
        assert (await client.get(f"{url}?{bad}", headers=ministry["headers"])).status_code == 400
