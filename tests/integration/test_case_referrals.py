"""Case ownership, referrals and transfers (issue 26) over REST and on the case page, with real
intakes sent over OpenRosa: the owner is set at intake; a case is referred from Khujand to
Dushanbe, refused without the person's consent, made with it (or with a manager's override),
accepted or declined by the receiving side; a transfer moves ownership; every step is in the
case's timeline and the audit log, and nothing is half-written when a step is refused."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from api.services import events as events_service
from api.services import webhooks as webhook_service
from tests.cases_seed import publish_case_forms, send_intake
from tests.integration.test_pages_infra import assert_no_english
from tests.pages_client import signed_in


@pytest.fixture(scope="module")
async def centres(client, pool, admin_headers, make_user):
    made = await client.post("/v1/projects", json={"name": f"refer-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    await publish_case_forms(pool, pid)
    users = {"khujand": await make_user("manager", pid), "dushanbe": await make_user("manager", pid),
             "researcher": await make_user("researcher", pid),
             "ministry": await make_user("ministry", pid)}
    return {"pid": pid, "users": users}


def case_url(pid: int, case: str) -> str:
    return f"/v1/projects/{pid}/cases/{case}"


async def audits_of(pool, case: str) -> list[tuple[str, dict]]:
    """The case's audit rows of changes (not reads), oldest first."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT action, details FROM audits WHERE acted_on LIKE $1 "
                                "AND action LIKE 'case.%' AND action <> 'case.read' ORDER BY id", f"%/cases/{case}")
    return [(r["action"], r["details"]) for r in rows]


async def deliver(pool) -> None:
    """What the outbox worker does after the commits: every pending event to its handlers."""
    async with pool.acquire() as conn:
        while await events_service.handle_pending(conn):
            pass


async def referral_alerts(pool, user_id: int) -> list[dict]:
    rows = await pool.fetch("SELECT details, link FROM alerts WHERE user_id = $1 AND "
                            "kind = 'referral' ORDER BY id", user_id)
    return [{**r["details"], "link": r["link"]} for r in rows]


async def test_owner_is_set_at_intake_and_changed(client, centres, pool) -> None:
    pid, users = centres["pid"], centres["users"]
    khujand = users["khujand"]
    sent = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="yes")
    url = case_url(pid, sent["case"])
    case = (await client.get(url, headers=khujand["headers"])).json()
    assert case["label"] == sent["code"] and case["consentToShare"] is True
    assert case["owner"]["centre"] == "khujand"
    assert case["owner"]["caseworker"]["id"] == khujand["id"]  # the web user who sent it
    assert case["referrals"] == []

    # a ministry user is no caseworker; nor is an unknown centre a centre
    for body, slug in (({"caseworkerId": users["ministry"]["id"]}, "caseworker-invalid"),
                       ({"centre": "bokhtar"}, "case-centre-invalid")):
        refused = await client.patch(url, json=body, headers=khujand["headers"])
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["slug"] == slug
    forbidden = await client.patch(url, json={"caseworkerId": None},
                                   headers=users["researcher"]["headers"])
    assert forbidden.status_code == 403
    changed = await client.patch(url, json={"caseworkerId": users["researcher"]["id"]},
                                 headers=khujand["headers"])
    assert changed.status_code == 200, changed.text
    assert changed.json()["owner"]["caseworker"]["id"] == users["researcher"]["id"]
    assert changed.json()["owner"]["centre"] == "khujand"
    assigned = [d for a, d in await audits_of(pool, sent["case"]) if a == "case.assign"]
    assert assigned[-1]["caseworkerId"] == {"old": khujand["id"], "new": users["researcher"]["id"]}


async def test_referral_from_khujand_to_dushanbe(client, centres, pool) -> None:
    pid, users = centres["pid"], centres["users"]
    khujand, dushanbe = users["khujand"], users["dushanbe"]
    # no consent recorded: refused, and nothing is written
    without = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="no")
    refused = await client.post(case_url(pid, without["case"]) + "/referrals",
                                json={"toCentre": "dushanbe", "service": "shelter"},
                                headers=khujand["headers"])
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["slug"] == "referral-consent-missing"
    assert (await client.get(case_url(pid, without["case"]),
                             headers=khujand["headers"])).json()["referrals"] == []
    assert await audits_of(pool, without["case"]) == []

    # with consent: made, waiting at Dushanbe
    sent = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="yes")
    url = case_url(pid, sent["case"])
    made = await client.post(url + "/referrals", json={"toCentre": "dushanbe", "service": "shelter"},
                             headers=khujand["headers"])
    assert made.status_code == 201, made.text
    referral = made.json()
    assert (referral["kind"], referral["fromCentre"], referral["toCentre"], referral["service"],
            referral["consent"], referral["state"]) == (
        "referral", "khujand", "dushanbe", "shelter", "recorded", "pending")
    # the receiving centre is alerted (the one who referred is not), once
    await deliver(pool)
    await deliver(pool)
    received_alerts = await referral_alerts(pool, dushanbe["id"])
    assert [(a["kind"], a["state"], a["case"], a["toCentre"], a["service"])
            for a in received_alerts] == [("referral", "pending", sent["code"], "dushanbe",
                                           "shelter")]
    assert received_alerts[0]["link"] == (f"/projects/{pid}/cases/{sent['case']}"
                                          f"#referral-{referral['id']}")
    assert await referral_alerts(pool, khujand["id"]) == []
    # the receiving centre sees it among the referrals it has received
    received = (await client.get(f"/v1/projects/{pid}/referrals?centre=dushanbe&state=pending",
                                 headers=dushanbe["headers"])).json()
    assert [(r["id"], r["case"]["uuid"]) for r in received] == [(referral["id"], sent["case"])]
    assert (await client.get(f"/v1/projects/{pid}/referrals?centre=khujand",
                             headers=dushanbe["headers"])).json() == []
    async with pool.acquire() as conn:
        centres_of_case = await conn.fetchval(
            "SELECT case_centres(id) FROM entities WHERE uuid = $1", uuid.UUID(sent["case"]))
    assert centres_of_case == ["dushanbe", "khujand"]

    # declining needs a reason; accepted once, never twice
    answer = url + f"/referrals/{referral['id']}"
    no_reason = await client.patch(answer, json={"state": "declined"}, headers=dushanbe["headers"])
    assert no_reason.status_code == 400 and no_reason.json()["slug"] == "referral-reason-missing"
    accepted = await client.patch(answer, json={"state": "accepted"}, headers=dushanbe["headers"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted"
    assert accepted.json()["respondedBy"]["id"] == dushanbe["id"]
    again = await client.patch(answer, json={"state": "declined", "reason": "full"},
                               headers=dushanbe["headers"])
    assert again.status_code == 409 and again.json()["slug"] == "referral-answered"
    missing = await client.patch(url + "/referrals/999999", json={"state": "accepted"},
                                 headers=dushanbe["headers"])
    assert missing.status_code == 404 and missing.json()["slug"] == "referral-not-found"

    # the answer alerts the referring side, in its language
    await deliver(pool)
    assert [(a["state"], a["fromCentre"]) for a in await referral_alerts(pool, khujand["id"])] == [
        ("accepted", "khujand")]
    assert len(await referral_alerts(pool, dushanbe["id"])) == 1
    await pool.execute("UPDATE users SET locale = 'ru' WHERE actor_id = $1", khujand["id"])
    browser = await signed_in(client, khujand["email"], khujand["password"])
    alerts_page = await browser.get(client, "/alerts")
    assert "Направление принято" in alerts_page.text
    assert "Откуда: Центр помощи в Худжанде; куда: Центр помощи в Душанбе · Приют" in alerts_page.text
    await pool.execute("UPDATE users SET locale = NULL WHERE actor_id = $1", khujand["id"])

    # the case still belongs to Khujand; the timeline shows the referral and its answer
    case = (await client.get(url, headers=khujand["headers"])).json()
    assert case["owner"]["centre"] == "khujand"
    assert [(r["id"], r["state"]) for r in case["referrals"]] == [(referral["id"], "accepted")]
    timeline = (await client.get(f"/v1/projects/{pid}/datasets/cases/entities/{sent['case']}"
                                 "/timeline", headers=khujand["headers"])).json()
    assert [(e["kind"], e["version"]) for e in timeline["entries"]] == [
        ("created", 1), ("referral", None), ("referral.accepted", None)]
    assert timeline["entries"][1]["referral"]["toCentre"] == "dushanbe"
    assert [a for a, _ in await audits_of(pool, sent["case"])] == [
        "case.referral", "case.referral.accept"]


async def test_transfer_moves_ownership(client, centres, pool) -> None:
    pid, users = centres["pid"], centres["users"]
    khujand, dushanbe = users["khujand"], users["dushanbe"]
    sent = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="yes")
    url = case_url(pid, sent["case"])
    for body, slug in (({"kind": "transfer"}, "case-centre-invalid"),
                       ({"kind": "transfer", "toCentre": "dushanbe", "service": "legal"},
                        "referral-invalid"),
                       ({"kind": "referral"}, "referral-invalid"),
                       ({"toCentre": "khujand"}, "referral-invalid"),
                       ({"service": "astrology"}, "referral-invalid"),
                       ({"kind": "handover", "toCentre": "dushanbe"}, "referral-invalid")):
        refused = await client.post(url + "/referrals", json=body, headers=khujand["headers"])
        assert refused.status_code == 400 and refused.json()["slug"] == slug, (body, refused.text)
    first = await client.post(url + "/referrals", json={"kind": "transfer", "toCentre": "dushanbe"},
                              headers=khujand["headers"])
    assert first.status_code == 201, first.text
    second = await client.post(url + "/referrals", json={"kind": "transfer", "toCentre": "dushanbe"},
                               headers=khujand["headers"])
    assert second.status_code == 409 and second.json()["slug"] == "transfer-pending"
    declined = await client.patch(url + f"/referrals/{first.json()['id']}",
                                  json={"state": "declined", "reason": "No places left"},
                                  headers=dushanbe["headers"])
    assert declined.status_code == 200 and declined.json()["reason"] == "No places left"
    assert (await client.get(url, headers=khujand["headers"])).json()["owner"]["centre"] == "khujand"

    again = await client.post(url + "/referrals", json={"kind": "transfer", "toCentre": "dushanbe"},
                              headers=khujand["headers"])
    assert again.status_code == 201, again.text
    accepted = await client.patch(url + f"/referrals/{again.json()['id']}",
                                  json={"state": "accepted"}, headers=dushanbe["headers"])
    assert accepted.status_code == 200, accepted.text
    owner = (await client.get(url, headers=dushanbe["headers"])).json()["owner"]
    assert owner["centre"] == "dushanbe" and owner["caseworker"]["id"] == dushanbe["id"]
    async with pool.acquire() as conn:
        centres_of_case = await conn.fetchval(
            "SELECT case_centres(id) FROM entities WHERE uuid = $1", uuid.UUID(sent["case"]))
    assert centres_of_case == ["dushanbe"]  # Khujand no longer owns it
    kinds = [e["kind"] for e in (await client.get(
        f"/v1/projects/{pid}/datasets/cases/entities/{sent['case']}/timeline",
        headers=dushanbe["headers"])).json()["entries"]]
    assert kinds == ["created", "transfer", "transfer.declined", "transfer", "transfer.accepted"]


async def test_manager_overrides_missing_consent(client, centres, pool) -> None:
    pid, users = centres["pid"], centres["users"]
    khujand = users["khujand"]
    sent = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="no")
    url = case_url(pid, sent["case"]) + "/referrals"
    body = {"service": "legal", "consentOverride": "Court order 12/2026"}
    forbidden = await client.post(url, json=body, headers=users["researcher"]["headers"])
    assert forbidden.status_code == 403
    blank = await client.post(url, json={**body, "consentOverride": "  "}, headers=khujand["headers"])
    assert blank.status_code == 409 and blank.json()["slug"] == "referral-consent-missing"
    made = await client.post(url, json=body, headers=khujand["headers"])
    assert made.status_code == 201, made.text
    assert (made.json()["consent"], made.json()["overrideReason"]) == ("override",
                                                                       "Court order 12/2026")
    overrides = [d for a, d in await audits_of(pool, sent["case"]) if a == "case.consent.override"]
    # audited without the reason, which is free text: it stays with the referral, and goes
    # when the case is erased (the audit log is append-only)
    assert len(overrides) == 1 and overrides[0]["referralId"] == made.json()["id"]
    assert "Court order" not in str(await audits_of(pool, sent["case"]))


async def test_case_page_refers_and_answers(client, centres) -> None:
    pid, users = centres["pid"], centres["users"]
    khujand, dushanbe = users["khujand"], users["dushanbe"]
    sent = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="no")
    page_url = f"/projects/{pid}/cases/{sent['case']}"
    referrer = await signed_in(client, khujand["email"], khujand["password"])
    shown = await referrer.get(client, page_url)
    assert shown.status_code == 200
    assert 'id="owner-centre">Khujand support centre<' in shown.text
    assert "Not recorded" in shown.text and 'name="override_reason"' in shown.text
    # without consent and without a reason: refused on the page, in its language
    referrer.lang = "ru"
    refused = await referrer.post(client, page_url + "/referrals",
                                  {"kind": "referral", "to_centre": "dushanbe", "service": "legal"})
    assert refused.status_code == 409
    alert = re.search(r'<p class="error" role="alert">([^<]+)', refused.text)
    assert alert and "Согласие человека" in alert.group(1)
    referrer.lang = None
    made = await referrer.post(client, page_url + "/referrals", {
        "kind": "referral", "to_centre": "dushanbe", "service": "legal",
        "override_reason": "Court order"})
    assert made.status_code == 303 and made.headers["location"] == page_url + "#referrals"

    receiver = await signed_in(client, dushanbe["email"], dushanbe["password"])
    shown = await receiver.get(client, page_url)
    referral = re.search(r'<li id="referral-(\d+)">', shown.text).group(1)
    # the receiving centre finds it among those waiting for it, linked to the case
    waiting = await receiver.get(client, f"/projects/{pid}/referrals?centre=dushanbe")
    assert waiting.status_code == 200
    assert f'<a href="{page_url}#referral-{referral}">{sent["code"]}</a>' in waiting.text
    elsewhere = await receiver.get(client, f"/projects/{pid}/referrals?centre=khujand")
    assert sent["code"] not in elsewhere.text
    assert "Dushanbe support centre · Legal aid" in shown.text and "Court order" in shown.text
    no_reason = await receiver.post(client, page_url + f"/referrals/{referral}",
                                    {"answer": "declined", "reason": " "})
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.text
    declined = await receiver.post(client, page_url + f"/referrals/{referral}",
                                   {"answer": "declined", "reason": "No lawyer this month"})
    assert declined.status_code == 303
    shown = await receiver.get(client, page_url)
    assert re.search(r'<li id="referral-\d+-referral-declined" class="referral-entry">\s*<h3>'
                     r'[^<]+ · Referral declined: Dushanbe support centre · Legal aid', shown.text)
    assert "No lawyer this month" in shown.text
    # a researcher reads the section but has no forms to change the case
    researcher = await signed_in(client, users["researcher"]["email"],
                                 users["researcher"]["password"])
    read = await researcher.get(client, page_url)
    assert read.status_code == 200 and 'id="referrals"' in read.text
    assert 'action="' + page_url + '/referrals"' not in read.text
    assert (await researcher.post(client, page_url + "/owner", {"centre": "dushanbe"})
            ).status_code == 403


@pytest.mark.parametrize("locale", ["ru", "tg"])
async def test_referral_section_in_russian_and_tajik(client, centres, locale) -> None:
    pid, khujand = centres["pid"], centres["users"]["khujand"]
    sent = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="yes")
    made = await client.post(case_url(pid, sent["case"]) + "/referrals",
                             json={"kind": "transfer", "toCentre": "dushanbe"},
                             headers=khujand["headers"])
    assert made.status_code == 201
    browser = await signed_in(client, khujand["email"], khujand["password"])
    browser.lang = locale
    shown = await browser.get(client, f"/projects/{pid}/cases/{sent['case']}")
    assert shown.status_code == 200
    assert_no_english(shown.text, f"case page ({locale})",
                      user_text=[sent["code"], khujand["email"]])
    listed = await browser.get(client, f"/projects/{pid}/referrals")
    assert listed.status_code == 200 and sent["code"] in listed.text
    assert_no_english(listed.text, f"referrals page ({locale})",
                      user_text=[khujand["email"], *re.findall(r"[A-Z]{2}-2026-[0-9A-F]{6}",
                                                               listed.text)])


async def test_erasing_a_case_takes_its_referrals(client, centres, pool, admin_headers) -> None:
    pid, khujand = centres["pid"], centres["users"]["khujand"]
    sent = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="no")
    made = await client.post(case_url(pid, sent["case"]) + "/referrals",
                             json={"service": "medical", "consentOverride": "Urgent surgery"},
                             headers=khujand["headers"])
    assert made.status_code == 201, made.text
    erased = await client.post(f"/v1/projects/{pid}/datasets/cases/entities/{sent['case']}/erase",
                               json={"confirm": sent["code"]}, headers=admin_headers)
    assert erased.status_code == 200, erased.text
    assert await pool.fetchval("SELECT count(*) FROM case_referrals WHERE id = $1",
                               made.json()["id"]) == 0
    listed = (await client.get(f"/v1/projects/{pid}/referrals", headers=khujand["headers"])).json()
    assert made.json()["id"] not in [r["id"] for r in listed]
    assert await pool.fetchval("SELECT count(*) FROM audits WHERE details::text LIKE "
                               "'%Urgent surgery%'") == 0
    await deliver(pool)  # its event finds no case: no alert, no failure
    assert await pool.fetchval("SELECT count(*) FROM events WHERE subject = $1 AND "
                               "handled_at IS NULL", f"case/{sent['case']}") == 0


async def test_a_centre_sees_the_cases_it_owns_or_was_referred(
    client, centres, pool, admin_headers, make_user
) -> None:
    """Row scopes (api/scopes.py): a manager limited to a centre sees the cases it owns, and
    those referred to it while the referral stands; an accepted transfer moves the case."""
    pid, khujand = centres["pid"], centres["users"]["khujand"]
    scoped = {c: await make_user("manager", pid) for c in ("khujand", "dushanbe")}
    for c, user in scoped.items():
        put = await client.put(f"/v1/projects/{pid}/assignments/scopes/{user['id']}",
                               json={"centres": [c]}, headers=admin_headers)
        assert put.status_code == 200, put.text
    sent = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="yes")
    url = case_url(pid, sent["case"])

    async def sees(centre: str) -> bool:
        headers = scoped[centre]["headers"]
        case = await client.get(url, headers=headers)
        entity = await client.get(f"/v1/projects/{pid}/datasets/cases/entities/{sent['case']}",
                                  headers=headers)
        assert case.status_code == entity.status_code, (case.text, entity.text)
        return case.status_code == 200

    assert await sees("khujand") and not await sees("dushanbe")
    made = await client.post(url + "/referrals", json={"toCentre": "dushanbe", "service": "legal"},
                             headers=scoped["khujand"]["headers"])
    assert made.status_code == 201, made.text
    assert await sees("dushanbe") and await sees("khujand")
    # its page, with no links to the submissions behind it (they stay Khujand's)
    browser = await signed_in(client, scoped["dushanbe"]["email"], scoped["dushanbe"]["password"])
    shown = await browser.get(client, f"/projects/{pid}/cases/{sent['case']}")
    assert shown.status_code == 200 and sent["code"] in shown.text
    assert "/submissions/" not in shown.text
    owner_browser = await signed_in(client, scoped["khujand"]["email"],
                                    scoped["khujand"]["password"])
    assert "/submissions/" in (await owner_browser.get(
        client, f"/projects/{pid}/cases/{sent['case']}")).text
    await deliver(pool)
    assert [a["state"] for a in await referral_alerts(pool, scoped["dushanbe"]["id"])] == ["pending"]
    declined = await client.patch(url + f"/referrals/{made.json()['id']}",
                                  json={"state": "declined", "reason": "No lawyer free"},
                                  headers=scoped["dushanbe"]["headers"])
    assert declined.status_code == 200, declined.text
    assert not await sees("dushanbe")  # declined: no longer its case to see
    await deliver(pool)
    assert [a["state"] for a in await referral_alerts(pool, scoped["khujand"]["id"])] == ["declined"]

    moved = await client.post(url + "/referrals", json={"kind": "transfer", "toCentre": "dushanbe"},
                              headers=scoped["khujand"]["headers"])
    assert moved.status_code == 201, moved.text
    accepted = await client.patch(url + f"/referrals/{moved.json()['id']}",
                                  json={"state": "accepted"}, headers=scoped["dushanbe"]["headers"])
    assert accepted.status_code == 200, accepted.text
    assert await sees("dushanbe") and not await sees("khujand")
    assert await pool.fetchval("SELECT centre FROM entities WHERE uuid = $1",
                               uuid.UUID(sent["case"])) == "dushanbe"


async def test_a_webhook_carries_the_referral_as_rest_shows_it(client, centres, pool) -> None:
    pid, khujand = centres["pid"], centres["users"]["khujand"]
    sent = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="yes")
    made = await client.post(case_url(pid, sent["case"]) + "/referrals",
                             json={"kind": "transfer", "toCentre": "dushanbe"},
                             headers=khujand["headers"])
    assert made.status_code == 201, made.text
    event = await pool.fetchrow("SELECT * FROM events WHERE subject = $1 AND kind = $2",
                                f"case/{sent['case']}", "case.transferred")
    assert event["details"]["referralId"] == made.json()["id"]
    delivery = {"id": 0, "details": event["details"], "subject": event["subject"],
                "project_id": pid, "form_id": None, "created_by": khujand["id"],
                "event_kind": event["kind"], "event_id": event["id"],
                "event_at": event["created_at"]}
    async with pool.acquire() as conn:
        body = json.loads(await webhook_service.delivery_body(conn, delivery))
    rest = (await client.get(case_url(pid, sent["case"]), headers=khujand["headers"])).json()
    assert body["event"] == "case.transferred" and body["uuid"] == sent["case"]
    assert {k: v for k, v in body["record"].items() if k != "case"} == rest["referrals"][0]
    assert body["record"]["case"] == {"uuid": sent["case"], "label": sent["code"]}
