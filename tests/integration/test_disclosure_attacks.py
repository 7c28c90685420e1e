"""The attack suite of issue 15 (shared/spec/summaries.md, version 2, "Proof").

An attacker with the ministry role, who knows the method and its parameters, queries a live
server (`fieldsurvey serve`) over HTTP about 400 screenings with small groups planted in them:
TJ-RA 7, sex `other` 5, sex `refused` 4, February 3 (and 4 approved, 7 refusals of consent).
It tries every attack of the issue (complements, periods, review states, inclusion-exclusion,
tables sharing a margin, reports against summaries, before and after one new screening) and
averages over up to 1,000 distinct queries. Then, for each planted group, it solves for the
group's count as an integer program over every response collected: the unknowns are the
counts of every combination of region x sex x month x age band x risk level x site type (plus
"anything not listed" in each), each published count p says its cell holds max(k, p-D)..p+D persons,
each suppressed cell 0..k-1. For every planted group at least two counts must stay feasible.
The program is checked to admit the true counts first, so that it constrains what it should.
"""

from __future__ import annotations

import itertools
import os
import pickle
import random
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix

from api.services.publications import due_month
from exports.reintegration import VALUES as REINTEGRATION_VALUES
from tests.summaries_seed import (
    DISTRICTS,
    publish_now,
    random_answers,
    screening_project,
    submission_xml,
    submit,
)

K = 10
D = 3
THROUGH = due_month(datetime.now(UTC), 7)
AGE = {"0-13": 9, "14-17": 15, "18-24": 23, "25-34": 30, "35-49": 41, "50+": 60}
REGIONS = ["TJ-DU", "TJ-SU", "TJ-KT", "TJ-GB", "TJ-RA"]
SEXES = ["female", "male", "other", "refused"]
LEVELS = ["low", "medium", "high"]
SITES = ["community", "school", "orphanage", "departure_point", "support_center", "hotline", "other"]


def months_through(last: int) -> list[int]:
    out, year, month = [], 2026, 1
    while year * 100 + month <= last:
        out.append(year * 100 + month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


MONTHS = months_through(THROUGH)
QUARTERS = sorted({(m // 100, (m % 100 + 2) // 3) for m in MONTHS})
# the attacker's model: every dimension's listed values and one "anything else" (index -1)
DIMS = {
    "region": REGIONS,
    "sex": SEXES,
    "month": MONTHS,
    "age_band": list(AGE),
    "risk_level": LEVELS,
    "site_type": SITES,
}
NAMES = list(DIMS)
SIZES = [len(v) + 1 for v in DIMS.values()]


def planted_people(rng: random.Random) -> list[dict]:
    """400 screenings: most in January, March and April 2026; TJ-RA 7, `other` 5, `refused` 4,
    February 3 (the planted groups do not overlap); and 7 consent refusals."""
    people = []
    usual = ["TJ-DU", "TJ-SU", "TJ-KT", "TJ-GB"]
    for i in range(393):
        if i < 7:
            region = "TJ-RA"
        else:
            region = rng.choices(usual, [25, 35, 30, 10])[0]
        sex = "other" if 7 <= i < 12 else "refused" if 12 <= i < 16 else rng.choice(["female", "male"])
        month = 2 if 16 <= i < 19 else rng.choice([1, 3, 4])
        answers = random_answers(rng, region=region, consent="yes")
        answers.update(
            interview_date=f"2026-{month:02d}-{rng.randint(1, 28):02d}", sex=sex,
            district=rng.choice(DISTRICTS[region]), age=str(AGE[rng.choice(list(AGE))]),
        )
        people.append(answers)
    for _ in range(7):
        people.append({"consent": "no"})
    return people


@pytest.fixture(scope="module")
async def planted(client, admin_headers, make_user, live_server, pool, settings):
    pid = await screening_project(client, admin_headers, f"attack-{uuid.uuid4().hex[:6]}")
    rng = random.Random(15)
    keys = []
    for answers in planted_people(rng):
        instance = f"uuid:{uuid.uuid4()}"
        await submit(client, admin_headers, pid, submission_xml(answers, instance_id=instance))
        keys.append(instance)
    for instance in keys[100:104]:  # 4 approved (the review-state attack)
        response = await client.patch(f"/v1/projects/{pid}/forms/risk_screening/submissions/{instance}",
                                      json={"reviewState": "approved"}, headers=admin_headers)
        assert response.status_code == 200
    ministry = await make_user("ministry", pid)
    truth = await pool.fetch(
        "SELECT sc.region, sc.sex, summary_month(sc.interview_date) AS month, sc.age_band, sc.risk_level, "
        "sc.site_type "
        "FROM screenings sc JOIN forms f ON f.id = sc.form_id WHERE f.project_id = $1 AND NOT sc.consent_refused",
        pid,
    )
    assert len(truth) == 393
    await publish_now(pool, settings, pid)  # the app's publisher, once the data is in
    return {"pid": pid, "headers": ministry["headers"], "base": live_server.base_url, "truth": truth}


class Attacker:
    """Sends queries as the ministry and keeps every published or suppressed cell it saw, each
    as the set of conditions that defines its persons."""

    def __init__(self, base: str, pid: int, headers: dict):
        self.http = httpx.Client(base_url=base, headers=headers, timeout=60)
        self.pid = pid
        self.cells: dict[tuple, int | None] = {}  # cell identity -> published value (None: suppressed)
        self.responses: dict[str, dict] = {}
        self.refused: list[str] = []

    def summary(self, query: str) -> dict | None:
        response = self.http.get(f"/v1/projects/{self.pid}/summaries/risk?{query}")
        if response.status_code != 200:
            assert response.status_code in (400, 403), (query, response.text)
            self.refused.append(query)
            return None
        body = response.json()
        self.responses[query] = body
        self._collect(body)
        return body

    def _collect(self, body: dict) -> None:
        fixed = {name: values[0] for name, values in body["filters"].items()}
        window = _months_between(body["from"], body["to"])
        for item in body["cells"] + body["totals"]:
            conditions = dict(fixed)
            months = window
            for name, value in item.items():
                if name in ("count", "suppressed"):
                    continue
                if name == "period":
                    months = _months_of_period(value, body["period"]) if value else [0]
                    if window is not None:
                        months = [m for m in months if m in window]
                else:
                    conditions[name] = value
            self.record(conditions, months, item["count"])

    def record(self, conditions: dict, months: Iterable[int] | None, value: int | None) -> None:
        if any(n not in DIMS for n in conditions):
            return  # outside the attacker's model (its values cannot be written as atoms)
        if any(v is None or v not in DIMS[n] for n, v in conditions.items()):
            return  # "unknown" values: not in the model either
        identity = (tuple(sorted(conditions.items())), None if months is None else tuple(sorted(months)))
        if identity in self.cells:
            # the same persons reached by another query: the same published value
            assert self.cells[identity] == value, (identity, self.cells[identity], value)
        self.cells[identity] = value


def _months_between(start: str | None, end: str | None) -> list[int] | None:
    if start is None:
        return None
    first, last = int(start[:4]) * 100 + int(start[5:7]), int(end[:4]) * 100 + int(end[5:7])
    return [m for m in MONTHS if first <= m <= last]


def _months_of_period(label: str, period: str) -> list[int]:
    if period == "month":
        return [int(label[:4]) * 100 + int(label[5:7])]
    if period == "quarter":
        year, quarter = int(label[:4]), int(label[-1])
        return [m for m in MONTHS if m // 100 == year and (m % 100 + 2) // 3 == quarter]
    return [m for m in MONTHS if m // 100 == int(label)]


def distinct_queries(limit: int) -> list[str]:
    """Distinct queries of the bounded language over the model's dimensions: every breakdown
    of up to two dimensions, every single-value filter, every period breakdown and every whole
    month, quarter or year."""
    dims = ["region", "sex", "age_band", "risk_level", "site_type"]
    windows = [""] + [f"&from={m // 100}-{m % 100:02d}&to={m // 100}-{m % 100:02d}" for m in MONTHS]
    windows += [f"&from={y}-{3 * q - 2:02d}&to={y}-{3 * q:02d}" for y, q in QUARTERS]
    windows += ["&from=2026-01&to=2026-12"]
    periods = ["", "&period=month", "&period=quarter", "&period=year"]
    shapes: list[str] = []
    for by in [()] + [(d,) for d in dims] + list(itertools.combinations(dims, 2)):
        shapes.append("by=" + ",".join(by) if by else "")
        if len(by) <= 1:
            for other in dims:
                if other in by:
                    continue
                for value in DIMS[other]:
                    shapes.append(("by=" + by[0] + "&" if by else "") + f"{other}={value}")
    queries = []
    for shape, window, period in itertools.product(shapes, windows, periods):
        queries.append((shape + window + period).lstrip("&"))
    rng = random.Random(1000)
    rng.shuffle(queries)
    return list(dict.fromkeys(queries))[:limit]


_ATOMS: dict[tuple, np.ndarray] = {}


def atoms_matching(conditions: dict, months: tuple | None) -> np.ndarray:
    """Indexes of the atoms of a cell (the same cell comes back in every publication)."""
    key = (tuple(sorted(conditions.items())), months)
    found = _ATOMS.get(key)
    if found is None:
        found = _ATOMS[key] = _atoms_of(conditions, months)
    return found


def _atoms_of(conditions: dict, months: tuple | None) -> np.ndarray:
    masks = []
    for name, size in zip(NAMES, SIZES, strict=True):
        mask = np.zeros(size, bool)
        if name == "month" and months is not None:
            for m in months:
                mask[DIMS["month"].index(m) if m else size - 1] = True  # 0: date unknown
        elif name in conditions:
            mask[DIMS[name].index(conditions[name])] = True
        else:
            mask[:] = True  # all values, and "anything not listed"
        masks.append(mask)
    combined = masks[0]
    for mask in masks[1:]:
        combined = np.logical_and.outer(combined, mask)
    return np.flatnonzero(combined)


def true_atoms(truth) -> np.ndarray:
    counts = np.zeros(int(np.prod(SIZES)))
    for row in truth:
        index = []
        for name, size in zip(NAMES, SIZES, strict=True):
            value = row[name]
            index.append(DIMS[name].index(value) if value in DIMS[name] else size - 1)
        counts[np.ravel_multi_index(index, SIZES)] += 1
    return counts


def program(cells: dict) -> tuple[csr_matrix, np.ndarray, np.ndarray]:
    """The integer program's constraints: lower <= A x <= upper, x >= 0 integer (the atoms)."""
    rows, columns, lower, upper = [], [], [], []
    for row, ((conditions, months), value) in enumerate(cells.items()):
        atoms = atoms_matching(dict(conditions), months)
        rows.append(np.full(len(atoms), row))
        columns.append(atoms)
        if value is None:  # suppressed: fewer than k persons, possibly none
            lower.append(0)
            upper.append(K - 1)
        else:
            lower.append(max(K, value - D))
            upper.append(value + D)
    rows_, columns_ = np.concatenate(rows), np.concatenate(columns)
    matrix = csr_matrix((np.ones(len(rows_), np.float32), (rows_, columns_)),
                        shape=(len(cells), int(np.prod(SIZES))))
    return matrix, np.array(lower, float), np.array(upper, float)


def other_feasible_counts(matrix, lower, upper, truth: np.ndarray, group: np.ndarray) -> dict[int, np.ndarray]:
    """Solutions of the program with a count of the group other than the true one: searched
    from the true counts by moving one person from a combination a to a combination b (out
    of the group and into it), then, when that finds none on a side, by the MILP solver. Each
    solution returned is checked against every constraint. A move changes every cell by
    (b in it) - (a in it): it fits when every cell of a that cannot lose a person also holds b,
    and every cell of b that cannot gain one also holds a."""
    n = matrix.shape[1]
    inside = np.zeros(n, bool)
    inside[group] = True
    counts = matrix @ truth
    tight_down, tight_up = counts - lower < 1, upper - counts < 1
    columns = matrix.tocsc()
    up_total = np.asarray(matrix[np.flatnonzero(tight_up)].sum(axis=0)).ravel()

    def holding(rows: np.ndarray) -> np.ndarray:  # per combination: how many of `rows` hold it
        return np.asarray(matrix[rows].sum(axis=0)).ravel() if len(rows) else np.zeros(n)

    found: dict[int, np.ndarray] = {}
    for sources, targets in ((inside & (truth > 0), ~inside), (~inside & (truth > 0), inside)):
        for a in np.flatnonzero(sources):
            rows_a = columns.indices[columns.indptr[a]:columns.indptr[a + 1]]
            down, up = rows_a[tight_down[rows_a]], rows_a[tight_up[rows_a]]
            fits = targets & (holding(down) == len(down)) & (up_total - holding(up) == 0)
            if fits.any():
                b = int(np.argmax(fits))
                x = truth.copy()
                x[a] -= 1
                x[b] += 1
                found[int(x[group].sum())] = x
                break
    true_count = int(truth[group].sum())
    indicator = inside.astype(float)
    for side in ((0, true_count - 1), (true_count + 1, np.inf)):
        if any(side[0] <= c <= side[1] for c in found):
            continue
        result = milp(np.zeros(n), integrality=np.ones(n), bounds=Bounds(0, 400),
                      constraints=[LinearConstraint(matrix, lower, upper), LinearConstraint(indicator, *side)],
                      options={"time_limit": 60})
        if result.status == 0:
            x = np.round(result.x)
            found[int(x[group].sum())] = x
    for count, x in found.items():  # every solution is one: whole, non-negative, within bounds
        assert count != true_count and np.all(x >= 0)
        values = matrix @ x
        assert np.all(values >= lower) and np.all(values <= upper)
    return found


def group_atoms(name: str, value) -> np.ndarray:
    return atoms_matching({name: value} if name != "month" else {}, (value,) if name == "month" else None)


async def test_attacks_leave_every_planted_group_ambiguous(planted, client, admin_headers) -> None:
    attacker = Attacker(planted["base"], planted["pid"], planted["headers"])
    # --- the attacks, as they were made ---
    assert attacker.summary("") is not None
    for refused in (
        "sex=female,male,other",  # complements
        "by=region&sex=female,male,other",
        "from=2026-01&to=2026-02",  # periods: a window of two months
        "reviewState=received,hasIssues,edited",  # review states
        "risk_group=CHILD,POSSIBLE_VICTIM",  # inclusion-exclusion
        "by=site_type,exploitation_status&sex=female",  # tables sharing a margin: 3 dimensions
        "by=region&from=2026-01-01&to=2026-01-15",
        "disclosure=off",
    ):
        assert attacker.summary(refused) is None or refused == "disclosure=off"
    assert "disclosure=off" not in attacker.responses  # 403, not collected
    attacker.summary("from=2026-01&to=2026-01")
    attacker.summary("from=2026-02&to=2026-02")
    attacker.summary("by=region")
    attacker.summary("by=region,sex")
    attacker.summary("by=exploitation_status&sex=female")
    attacker.summary("by=site_type&sex=female")
    # inclusion-exclusion with single values: every risk group, and every pair through a table
    for group in ("CHILD", "POSSIBLE_VICTIM", "YOUTH"):
        attacker.summary(f"risk_group={group}")
    attacker.summary("by=risk_group")
    # --- reports against summaries: the same persons, the same numbers ---
    form = f"/v1/projects/{planted['pid']}/forms/risk_screening"
    for by, dim in (("respondent/sex", "sex"), ("respondent/region", "region")):
        response = attacker.http.get(f"{form}/report?by={by}")
        assert response.status_code == 200, response.text
        report = response.json()
        columns = report["breakdown"]["columns"]
        counts = report["population"][0]["table"]["counts"][0]
        summary = attacker.summary(f"by={dim}")
        by_value = {c[dim]: c["count"] for c in summary["cells"]}
        assert report["disclosure"]["method"]["maxAdjustment"] == D
        for column, count in zip(columns, counts, strict=True):
            if column["key"] == "total":  # the total column: the grand total of the summary
                assert count == summary["totals"][-1]["count"]
            elif column["by"] in by_value:
                column = column["by"]
                assert count == by_value[column], (dim, column)
                attacker.record({dim: column}, None, count)
    # --- before and after one new screening: nothing moves within a publication ---
    before = dict(attacker.responses)
    rng = random.Random(99)
    late = random_answers(rng, region="TJ-GB", consent="yes")
    late.update(interview_date="2026-01-20", sex="other")
    await submit(client, admin_headers, planted["pid"], submission_xml(late, instance_id=f"uuid:{uuid.uuid4()}"))
    for query, body in before.items():
        again = attacker.http.get(f"/v1/projects/{planted['pid']}/summaries/risk?{query}").json()
        assert again == body, query
    # --- averaging over up to 1,000 distinct queries ---
    for query in distinct_queries(1000):
        attacker.summary(query)
    asked = len(attacker.responses) + len(attacker.refused)
    assert len(attacker.responses) >= 500, (len(attacker.responses), len(attacker.refused))
    # --- the integer program over everything collected ---
    truth = true_atoms(planted["truth"])
    if os.environ.get("FIELDSURVEY_ATTACK_DUMP"):  # to study the program outside the suite
        with open(os.environ["FIELDSURVEY_ATTACK_DUMP"], "wb") as out:
            pickle.dump({"cells": attacker.cells, "truth": [dict(r) for r in planted["truth"]]}, out)
    groups = {
        "TJ-RA": (group_atoms("region", "TJ-RA"), 7),
        "sex other": (group_atoms("sex", "other"), 5),
        "sex refused": (group_atoms("sex", "refused"), 4),
        "February": (group_atoms("month", 202602), 3),
    }
    matrix, lower, upper = program(attacker.cells)
    # the program admits the truth: every published value within D of its true count, every
    # suppressed cell under k (were it not so, it would constrain the wrong thing)
    true_counts = matrix @ truth
    assert np.all(true_counts >= lower) and np.all(true_counts <= upper), "the program rejects the truth"
    assert ((upper - lower)[lower > 0] <= 2 * D).all() and (lower > 0).sum() > 100  # published cells bind it
    for name, (atoms, count) in groups.items():
        assert truth[atoms].sum() == count, name
        others = other_feasible_counts(matrix, lower, upper, truth, atoms)
        print(f"{name}: true count {count}; other counts feasible: {sorted(others)} "
              f"({matrix.shape[0]} distinct cells from {asked} queries, {len(attacker.refused)} refused)")
        assert others, f"{name}: the integer program pins the count {count}"


async def test_a_late_screening_is_a_revision_of_the_next_publication(planted, client, admin_headers, pool,
                                                                     settings) -> None:
    """Within a publication nothing moves (above); the next publication counts a screening
    stored late and names the month it revises. Keys are permanent (the month keeps its salt):
    every cell whose persons did not change keeps its value, in the revised month too."""
    from api.services.publications import publish_due
    from api.services.summaries import SummaryRequest, build_summary, publication_notes

    pid = planted["pid"]
    async with pool.acquire() as conn:
        first = await publish_due(conn, pid, settings)
    late = random_answers(random.Random(7), region="TJ-DU", consent="yes")
    late.update(interview_date="2026-01-11", sex="female")
    await submit(client, admin_headers, pid, submission_xml(late, instance_id=f"uuid:{uuid.uuid4()}"))
    year, month = divmod(THROUGH, 100)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)  # the month after
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)  # ... is published in the next
    async with pool.acquire() as conn:
        second = await publish_due(conn, pid, settings, now=datetime(year, month, 9, tzinfo=UTC))
        assert second.id != first.id and second.previous_month == first.through_month
        assert 202601 in second.revised and 202603 not in second.revised
        notes = {key: text % values for key, text, values in publication_notes(second)}
        assert "2026-01" in notes["Revisions"] and "2026-03" not in notes["Revisions"]
        forms = [r["id"] for r in await conn.fetch(
            "SELECT id FROM forms WHERE project_id = $1 AND xml_form_id = 'risk_screening'", pid)]

        async def table(publication, month_of):
            request = SummaryRequest(by=("region", "sex"), month_from=month_of, month_to=month_of).with_forms(forms)
            result = await build_summary(conn, request, K, publication)
            return result.slices[0].table

        march = await table(first, 202603), await table(second, 202603)
        assert march[0].cells == march[1].cells and march[0].total == march[1].total
        january = await table(first, 202601), await table(second, 202601)
        totals = await conn.fetch(
            "SELECT publication_id, n FROM publication_cells WHERE dims = 0 AND month = 202601 "
            "AND publication_id = ANY($1::bigint[])", [first.id, second.id])
        stored = await conn.fetchval(
            "SELECT count(*) FROM screenings WHERE form_id = ANY($1::integer[]) AND NOT consent_refused "
            "AND summary_month(interview_date) = 202601", forms)
        january_n = {r["publication_id"]: r["n"] for r in totals}
        assert january_n[second.id] == stored and january_n[first.id] < stored
        salts = await conn.fetch(
            "SELECT publication_id, salt FROM publication_months WHERE month = 202601 "
            "AND publication_id = ANY($1::bigint[])", [first.id, second.id])
        assert len({r["salt"] for r in salts}) == 1  # January keeps its salt: no new draw
        assert january[0].dims == january[1].dims
        # the late screenings (this test's, and the attack test's TJ-GB one): their cells
        late = {(r["region"], r["sex"]) for r in await conn.fetch(
            "SELECT sc.region, sc.sex FROM publication_members m JOIN screenings sc USING (submission_id) "
            "WHERE m.publication_id = $1 AND m.month = 202601 AND m.submission_id NOT IN "
            "(SELECT submission_id FROM publication_members WHERE publication_id = $2)", second.id, first.id)}
        assert ("TJ-DU", "female") in late
        assert {key for key in january[0].cells if key not in late}
        for key, value in january[0].cells.items():  # the same persons, the same value
            if key not in late:
                assert january[1].cells[key] == value, key
        for i in range(2):
            for value, count in january[0].margins[i].items():
                if value not in {cell[i] for cell in late}:
                    assert january[1].margins[i][value] == count, (i, value)


class Collector(Attacker):
    """An attacker's collection of one publication's responses (asked in process, through the
    same service functions the routes call), without the HTTP client."""

    def __init__(self):  # noqa: D107 - no server: the cells of one publication only
        self.cells, self.responses, self.refused = {}, {}, []

    def record(self, conditions: dict, months, value) -> None:
        if months is not None and any(m and m not in MONTHS for m in months):
            return  # a month after the model's (later publications list them; nobody is in them)
        super().record(conditions, months, value)


def month_after(month: int) -> int:
    year, m = divmod(month, 100)
    return (year + 1) * 100 + 1 if m == 12 else year * 100 + m + 1


async def test_collecting_every_publication_gives_one_draw_per_set_of_persons(planted, client, admin_headers,
                                                                             pool, settings) -> None:
    """Averaging over publications: the attacker collects every publication of the project,
    four more of them each revising January by one late screening whose answers it knows
    (TJ-DU, female: the threat model lets it know some persons). A cell whose persons did not
    change has one published value in every publication; one whose persons changed has one
    value per distinct set (at most 1 + the revisions that touched it, the bound of docs/disclosure.md).
    Over everything collected, with the late persons known, every planted group keeps at
    least two feasible counts."""
    from api.problems import Problem
    from api.services.publications import publish_due
    from api.services.summaries import build_summary, parse_summary_query
    from api.v1.summaries import summary_json
    from db.publications import get_publication

    pid = planted["pid"]
    queries = ["", "by=region", "by=sex", "by=region,sex", "by=region&period=month", "by=sex&period=month",
               "by=region,sex&from=2026-01&to=2026-01", "by=risk_level&region=TJ-RA&period=month",
               "by=age_band&sex=other", "by=sex&from=2026-01&to=2026-03", *distinct_queries(50)]
    rng = random.Random(23)
    async with pool.acquire() as conn:
        forms = [r["id"] for r in await conn.fetch(
            "SELECT id FROM forms WHERE project_id = $1 AND xml_form_id = 'risk_screening'", pid)]
        for _ in range(4):  # four more publications, each after one more late January screening
            last = await conn.fetchval("SELECT max(through_month) FROM publications WHERE project_id = $1", pid)
            late = random_answers(rng, region="TJ-DU", consent="yes")
            late.update(interview_date="2026-01-14", sex="female")
            await submit(client, admin_headers, pid, submission_xml(late, instance_id=f"uuid:{uuid.uuid4()}"))
            due = month_after(month_after(last))  # a publication through `last`'s next month
            await publish_due(conn, pid, settings, now=datetime(due // 100, due % 100, 9, tzinfo=UTC))
        publications = await conn.fetch("SELECT id, through_month FROM publications WHERE project_id = $1 "
                                        "ORDER BY through_month", pid)
        assert len(publications) >= 5
        first_members = {r["submission_id"] for r in await conn.fetch(
            "SELECT submission_id FROM publication_members WHERE publication_id = $1", publications[0]["id"])}
        collected = []  # per publication: (cells, the persons it counts beyond the first's)
        for row in publications:
            publication = await get_publication(conn, pid, row["through_month"])
            collector = Collector()
            for query in queries:
                request, _ = parse_summary_query(dict(p.split("=") for p in query.split("&") if p), restricted=True)
                try:
                    result = await build_summary(conn, request.with_forms(forms), K, publication)
                except Problem:  # a refusal (a guarded district, a month not yet published)
                    continue
                collector._collect(summary_json(result))
            known = await conn.fetch(
                "SELECT sc.region, sc.sex, summary_month(sc.interview_date) AS month, sc.age_band, "
                "sc.risk_level, sc.site_type FROM publication_members m "
                "JOIN screenings sc ON sc.submission_id = m.submission_id "
                "WHERE m.publication_id = $1 AND NOT (m.submission_id = ANY($2::bigint[]))",
                row["id"], list(first_members))
            collected.append((collector.cells, true_atoms(known)))
    assert [int(extra.sum()) for _, extra in collected] == sorted(int(e.sum()) for _, e in collected)
    assert int(collected[-1][1].sum()) >= 4  # the four here (and the late ones of the tests before, if run)
    # one draw per set of persons: a cell counts the same persons in two publications exactly
    # when the known late persons in it are the same; then its published value is the same
    values: dict[tuple, set] = {}
    for cells, extra in collected:
        for identity, value in cells.items():
            atoms = atoms_matching(dict(identity[0]), identity[1])
            values.setdefault((identity, int(extra[atoms].sum())), set()).add(value)
    assert all(len(v) == 1 for v in values.values()), "a set of persons drawn twice"
    unchanged = {identity for identity, shift in values if shift == 0}
    assert len(unchanged) > 200
    # the integer program over every publication: the late persons known, the first
    # publication's persons unknown
    rows, lower, upper = [], [], []
    for cells, extra in collected:
        matrix, low, high = program(cells)
        shift = matrix @ extra
        rows.append(matrix)
        lower.append(low - shift)
        upper.append(high - shift)
    from scipy.sparse import vstack

    matrix, lower, upper = vstack(rows).tocsr(), np.concatenate(lower), np.concatenate(upper)
    truth = true_atoms(planted["truth"])
    true_counts = matrix @ truth
    assert np.all(true_counts >= lower) and np.all(true_counts <= upper), "the program rejects the truth"
    groups = {"TJ-RA": (group_atoms("region", "TJ-RA"), 7), "sex other": (group_atoms("sex", "other"), 5),
              "sex refused": (group_atoms("sex", "refused"), 4), "February": (group_atoms("month", 202602), 3)}
    for name, (atoms, count) in groups.items():
        others = other_feasible_counts(matrix, lower, upper, truth, atoms)
        print(f"{name} over {len(collected)} publications: true count {count}; other counts feasible: "
              f"{sorted(others)} ({matrix.shape[0]} cells)")
        assert others, f"{name}: collecting publications pins the count {count}"


# --- reintegration summaries: support-centre cases ---------------------------------------------
#
# The same attacker asks every reintegration table (3 measures x every breakdown of up to two
# of the 7 dimensions) about 120 cases with small groups planted: sex `other` 3, region TJ-GB
# 4, centre `other` 2, age band 50+ 3. Cases are seeded with the entity API (a follow-up visit
# is a new version of the case, whatever sends it). The attacker's program: a world of cases
# (one vector of values each), every published count p saying its cell holds max(k, p-D)..p+D
# cases, every suppressed cell 0..k-1. For every planted group a second world with another
# group count must satisfy everything collected (searched from the truth by changing, removing
# or adding one case; each one found checked against every constraint).

CASE_DIMS = ("quarter", "centre", "stage", "close_reason", "region", "sex", "age_band")
CASE_VALUES = REINTEGRATION_VALUES  # the published categories (the attacker knows them)
CASE_GROUPS = {"sex": ("other", 3), "region": ("TJ-GB", 4), "centre": ("other", 2), "age_band": ("50_plus", 3)}


def planted_cases(rng: random.Random) -> list[dict]:
    """120 cases opened in 2026-01..09; 30 closed (visit in the quarter after opening at the
    latest, within the published months); the planted groups do not overlap."""
    cases = []
    for i in range(120):
        case = {
            "centre": "other" if i < 2 else rng.choice(["dushanbe", "khujand"]),
            "sex": "other" if 2 <= i < 5 else rng.choice(["female", "male", "refused"] if i % 9 == 0 else ["female", "male"]),
            "region": "TJ-GB" if 5 <= i < 9 else rng.choice(["TJ-DU", "TJ-SU", "TJ-KT", "TJ-RA"]),
            "age_band": "50_plus" if 9 <= i < 12 else rng.choice(["under_18", "18_24", "25_34", "35_49"]),
            "opened": f"2026-{rng.randint(1, 8):02d}-{rng.randint(1, 28):02d}",
        }
        if rng.random() < 0.25:
            month = min(9, int(case["opened"][5:7]) + rng.randint(0, 1))
            case.update(status="closed", stage="case_closed", close_reason=rng.choice(CASE_VALUES["close_reason"]),
                        last_visit=f"2026-{month:02d}-28")
        else:
            case.update(status="open", stage=rng.choice(CASE_VALUES["stage"][:-1]))
        cases.append(case)
    return cases


def case_value(case: dict, dim: str, measure: str) -> str:
    """The attacker's reading of the published method (docs/disclosure.md): quarters of opening, or of the
    closing visit for closed cases; anything else as coded."""
    if dim == "quarter":
        when = case["opened"] if measure == "opened" else case.get("last_visit", "")
        return f"{when[:4]}-Q{(int(when[5:7]) - 1) // 3 + 1}" if when else "unknown"
    return case.get(dim) or "unknown"


def case_counted(case: dict, measure: str) -> bool:
    return measure == "opened" or (case["status"] == "closed") == (measure == "closed")


def reintegration_queries() -> list[str]:
    queries = []
    for measure in ("opened", "active", "closed"):
        dims = [d for d in CASE_DIMS if not (measure == "active" and d == "quarter")]
        for by in [()] + [(d,) for d in dims] + list(itertools.combinations(dims, 2)):
            queries.append(f"measure={measure}&by={','.join(by)}")
    return queries


class CaseAttacker:
    def __init__(self, base: str, pid: int, headers: dict):
        self.http = httpx.Client(base_url=base, headers=headers, timeout=60)
        self.pid = pid
        self.cells: dict[tuple, int | None] = {}  # (measure, ((dim, value), ...)) -> value
        self.responses: dict[str, str] = {}

    def ask(self, query: str) -> dict:
        response = self.http.get(f"/v1/projects/{self.pid}/summaries/reintegration?{query}")
        assert response.status_code == 200, (query, response.text)
        self.responses[query] = response.text
        body = response.json()
        for item in body["cells"] + body["totals"]:
            conditions = tuple(sorted((d, v) for d, v in item.items() if d not in ("count", "suppressed")))
            identity = (body["measure"], conditions)
            if identity in self.cells:  # the same cases reached by another query: the same value
                assert self.cells[identity] == item["count"], identity
            self.cells[identity] = item["count"]
        return body


def case_constraints(cells: dict) -> tuple[list, np.ndarray, np.ndarray]:
    keys = list(cells)
    lower = np.array([0 if cells[c] is None else max(K, cells[c] - D) for c in keys])
    upper = np.array([K - 1 if cells[c] is None else cells[c] + D for c in keys])
    return keys, lower, upper


def membership(keys: list, case: dict) -> np.ndarray:
    return np.array([case_counted(case, measure) and all(case_value(case, d, measure) == v for d, v in conditions)
                     for measure, conditions in keys], dtype=np.int16)


def other_case_worlds(keys, lower, upper, world: list[dict], dim: str, value: str) -> dict[int, list[dict]]:
    """Worlds of cases with another count of the group (dim = value) that satisfy every
    collected constraint: one case of the group given another value or removed, or one case
    outside it given the value or copied into it."""
    members = np.stack([membership(keys, c) for c in world], axis=1)
    counts = members.sum(axis=1)
    truth = sum(c.get(dim) == value for c in world)
    found: dict[int, list[dict]] = {}

    def fits(delta: np.ndarray) -> bool:
        return bool(np.all(counts + delta >= lower) and np.all(counts + delta <= upper))

    for i, case in enumerate(world):
        inside = case.get(dim) == value
        if inside and truth - 1 not in found:
            if fits(-members[:, i]):
                found[truth - 1] = world[:i] + world[i + 1:]
            for other in CASE_VALUES[dim]:
                changed = {**case, dim: other}
                if other != value and truth - 1 not in found and fits(membership(keys, changed) - members[:, i]):
                    found[truth - 1] = world[:i] + [changed] + world[i + 1:]
        if not inside and truth + 1 not in found:
            changed = {**case, dim: value}
            if fits(membership(keys, changed) - members[:, i]):
                found[truth + 1] = world[:i] + [changed] + world[i + 1:]
            elif fits(membership(keys, changed)):
                found[truth + 1] = world + [changed]
        if len(found) == 2:
            break
    for count, other_world in found.items():  # each is a world: it satisfies everything collected
        assert sum(c.get(dim) == value for c in other_world) == count != truth
        values = np.stack([membership(keys, c) for c in other_world], axis=1).sum(axis=1)
        assert np.all(values >= lower) and np.all(values <= upper)
    return found


@pytest.fixture(scope="module")
async def cases(client, admin_headers, make_user, live_server, pool, settings):
    made = await client.post("/v1/projects", json={"name": f"attack-cases-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    await client.post(f"/v1/projects/{pid}/datasets", json={"name": "cases"}, headers=admin_headers)
    for prop in ("centre", "opened", "stage", "status", "last_visit", "close_reason", "region", "sex", "age_band"):
        await client.post(f"/v1/projects/{pid}/datasets/cases/properties", json={"name": prop},
                          headers=admin_headers)
    world = planted_cases(random.Random(151))
    rows = [{"label": f"XX-2026-{i:06X}", "data": case} for i, case in enumerate(world)]
    bulk = await client.post(f"/v1/projects/{pid}/datasets/cases/entities",
                             json={"entities": rows, "source": {"name": "seed"}}, headers=admin_headers)
    assert bulk.status_code == 200, bulk.text
    ministry = await make_user("ministry", pid)
    await publish_now(pool, settings, pid)
    return {"pid": pid, "world": world, "headers": ministry["headers"], "base": live_server.base_url}


async def test_reintegration_attacks_leave_every_planted_group_ambiguous(cases, client, admin_headers) -> None:
    attacker = CaseAttacker(cases["base"], cases["pid"], cases["headers"])
    queries = reintegration_queries()
    for query in queries:  # complements (opened = active + closed), subtraction of margins, pairs
        attacker.ask(query)
    # --- before and after new follow-ups: nothing moves within a publication ---
    listed = (await client.get(f"/v1/projects/{cases['pid']}/datasets/cases/entities", headers=admin_headers)).json()
    uuids = {int(e["currentVersion"]["label"][-6:], 16): e["uuid"] for e in listed}
    world = cases["world"]
    other_sex = next(i for i in range(2, 5) if world[i]["status"] == "open")  # a planted case's visit
    late = next(i for i in range(60, 120) if world[i]["status"] == "open")
    # a visit in a month no publication covers yet, even the next one (today's month after the
    # 7th is that next publication's month), and a late one in a published month
    unpublished = month_after(month_after(THROUGH))
    recent = f"{unpublished // 100}-{unpublished % 100:02d}-01"
    for i, visit in ((other_sex, recent), (late, "2026-09-20")):
        followed = await client.patch(
            f"/v1/projects/{cases['pid']}/datasets/cases/entities/{uuids[i]}?force=true",
            json={"data": {"stage": "case_closed", "status": "closed", "close_reason": "declined",
                           "last_visit": visit}}, headers=admin_headers)
        assert followed.status_code == 200, followed.text
    before = dict(attacker.responses)
    for query, text in before.items():
        assert attacker.http.get(f"/v1/projects/{cases['pid']}/summaries/reintegration?{query}").text == text, query
    # --- the program over everything collected ---
    keys, lower, upper = case_constraints(attacker.cells)
    truth = np.stack([membership(keys, c) for c in world], axis=1).sum(axis=1)
    assert np.all(truth >= lower) and np.all(truth <= upper), "the program rejects the truth"
    assert (lower > 0).sum() > 100  # published cells bind it
    for dim, (value, count) in CASE_GROUPS.items():
        assert sum(c[dim] == value for c in world) == count
        others = other_case_worlds(keys, lower, upper, world, dim, value)
        print(f"cases {dim}={value}: true count {count}; other counts feasible: {sorted(others)} "
              f"({len(keys)} distinct cells from {len(queries)} queries)")
        assert others, f"cases {dim}={value}: the program pins the count {count}"


async def test_reintegration_follow_ups_are_revisions_of_the_next_publication(cases, pool, settings) -> None:
    """The late follow-up (a visit in a published month) changes the next publication's cases:
    it says so; every case keeps its key (the project's case salt is kept), so only the cells
    the follow-up changed get a new draw; the recent visit (a later month) is not in it."""
    from api.services.publications import publish_due
    from db.publications import read_cases

    pid = cases["pid"]
    year, month = divmod(THROUGH, 100)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    async with pool.acquire() as conn:
        first = await publish_due(conn, pid, settings)
        second = await publish_due(conn, pid, settings, now=datetime(year, month, 9, tzinfo=UTC))
        assert second.id != first.id and second.cases_revised and not first.cases_revised
        salts = await conn.fetch("SELECT cases_salt FROM publications WHERE id = ANY($1::bigint[])",
                                 [first.id, second.id])
        assert len({r["cases_salt"] for r in salts}) == 1
        states = [s for _, s in await read_cases(conn, second.id)]
        before = [s for _, s in await read_cases(conn, first.id)]
        keys = {key for key, _ in await read_cases(conn, first.id)}
        assert keys == {key for key, _ in await read_cases(conn, second.id)}  # every case, its key
    closed = sum(s.get("status") == "closed" for s in states)
    assert closed == sum(s.get("status") == "closed" for s in before) + 1  # the late visit, not the recent one
    assert all("case_code" not in s and "label" not in s for s in states)  # coded values only
