"""API error messages follow Accept-Language: problem+json's title, detail and Central's
`message`, and the OpenRosaResponse message ODK Collect shows the enumerator."""

from __future__ import annotations

from defusedxml import ElementTree

from tests.conftest import ADMIN_EMAIL

OPENROSA = {"X-OpenRosa-Version": "1.0"}
NS = "{http://openrosa.org/http/response}"


async def test_problem_json_in_russian_and_tajik(client) -> None:
    body = {"email": ADMIN_EMAIL, "password": "not the password"}
    english = (await client.post("/v1/sessions", json=body)).json()
    assert english["message"] == "The email address or password is wrong."
    russian = await client.post("/v1/sessions", json=body, headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    problem = russian.json()
    assert russian.status_code == 401 and russian.headers["content-language"] == "ru"
    assert problem["slug"] == english["slug"] == "auth-failed" and problem["code"] == english["code"]
    assert problem["title"] == problem["detail"] == problem["message"] == "Неверный адрес электронной почты или пароль."
    tajik = (await client.post("/v1/sessions", json=body, headers={"Accept-Language": "tg"})).json()
    assert tajik["message"] == "Почтаи электронӣ ё рамз нодуруст аст."


async def test_details_with_values_and_untranslated_details(client, admin_headers, make_user, default_project_id) -> None:
    collector = await make_user("collector", default_project_id)
    denied = await client.get(f"/v1/projects/{default_project_id}/forms/risk_screening/submissions",
                              headers={**collector["headers"], "Accept-Language": "ru"})
    assert denied.status_code == 403
    assert denied.json()["detail"] == "Для этого действия нужно право 'submission.read'."
    # a detail the catalogue does not have: kept for programs, the message is the translated title
    odd = await client.get("/v1/audits?start=yesterday", headers={**admin_headers, "Accept-Language": "tg"})
    assert odd.status_code == 400
    problem = odd.json()
    assert "ISO 8601" in problem["detail"] and problem["message"] == problem["title"] == "Дархост хато дорад."


async def test_openrosa_message_in_the_phones_language(client, admin_headers, default_project_id) -> None:
    xml = (b'<data id="no_such_form" version="1"><meta><instanceID>uuid:6f0e1c1e-0000-4000-8000-000000000001'
           b"</instanceID></meta></data>")
    response = await client.post(
        f"/v1/projects/{default_project_id}/submission",
        files={"xml_submission_file": ("submission.xml", xml, "text/xml")},
        headers={**admin_headers, **OPENROSA, "Accept-Language": "tg-TJ"},
    )
    assert response.status_code == 404
    message = ElementTree.fromstring(response.content).find(f"{NS}message")
    assert message.get("nature") == "error"
    assert message.text == "Дар ин лоиҳа шакли нашршудаи 'no_such_form' бо версияи '1' нест."
    english = await client.post(
        f"/v1/projects/{default_project_id}/submission",
        files={"xml_submission_file": ("submission.xml", xml, "text/xml")},
        headers={**admin_headers, **OPENROSA},
    )
    assert ElementTree.fromstring(english.content).find(f"{NS}message").text == \
        "No published form 'no_such_form' with version '1' in this project."


async def test_summary_query_errors_in_the_readers_language(client, admin_headers, default_project_id) -> None:
    """The bounded query language's refusals (risk and reintegration summaries) are catalogue
    templates: the detail follows Accept-Language, with the caller's values filled in."""
    base = f"/v1/projects/{default_project_id}/summaries"
    cases = [
        ("risk?sex=female,male", "ru", "Фильтр sex принимает одно значение."),
        ("risk?sex=female,male", "tg", "Филтри sex як қимат мегирад."),
        ("risk?by=region,sex,age_band", "ru", "В таблице не более двух измерений (и период)."),
        ("risk?from=2026-01&to=2026-02", "tg", "Хулосаҳои нашршуда тамоми давра ё як моҳ, семоҳа ё "
         "соли пурраро фаро мегиранд (from ва to аз як моҳ, семоҳа ё сол)."),
        ("reintegration?measure=all", "ru", "Параметр measure должен быть одним из: opened, active, closed."),
    ]
    for query, language, detail in cases:
        response = await client.get(f"{base}/{query}", headers={**admin_headers, "Accept-Language": language})
        assert response.status_code == 400, (query, response.text)
        problem = response.json()
        assert problem["slug"] == "summary-query-invalid"
        assert problem["detail"] == problem["message"] == detail, (query, language)
    english = (await client.get(f"{base}/risk?sex=female,male", headers=admin_headers)).json()
    assert english["detail"] == "Filter sex takes one value."


async def test_body_limit_answers_in_the_requests_language(settings, default_project_id) -> None:
    """The body bound answers before the application (api/request_body.py), in the language of
    the request all the same: problem+json on REST, OpenRosaResponse for Collect."""
    import dataclasses

    from litestar.testing import AsyncTestClient

    from api.app import create_app

    small = dataclasses.replace(settings, max_submission_bytes=4096)
    async with AsyncTestClient(app=create_app(small)) as small_client:
        rest = await small_client.post("/v1/projects", content=b"x" * 5000, headers={
            "Content-Type": "application/json", "Accept-Language": "ru"})
        assert rest.status_code == 413
        problem = rest.json()
        assert problem["slug"] == "payload-too-large" and problem["code"] == 413.99
        assert problem["detail"] == problem["message"] == (
            "Тело запроса — 5000 байт; сервер принимает не больше 4096.")
        phone = await small_client.post(
            f"/v1/projects/{default_project_id}/submission", content=b"x" * 5000,
            headers={**OPENROSA, "Content-Type": "multipart/form-data; boundary=b",
                     "Accept-Language": "tg-TJ"})
        assert phone.status_code == 413
        message = ElementTree.fromstring(phone.content).find(f"{NS}message").text
        assert message == "Ҳаҷми дархост 5000 байт аст; сервер на бештар аз 4096 байт қабул мекунад."
        # the format is the route's own, not guessed from its path: an OpenRosa route whose
        # path is neither /submission nor /formList answers in XML ...
        manifest = await small_client.request(
            "GET", f"/v1/projects/{default_project_id}/forms/risk_screening/manifest",
            content=b"x" * 5000, headers={**OPENROSA, "Accept-Language": "ru"})
        assert manifest.status_code == 413 and manifest.headers["content-type"].startswith("text/xml")
        message = ElementTree.fromstring(manifest.content).find(f"{NS}message").text
        assert message == "Тело запроса — 5000 байт; сервер принимает не больше 4096."
        # ... and a route ending in /submission that is not OpenRosa (the fill page's) answers
        # as that route does: the JSON refusal its page shows
        page = await small_client.post(
            f"/dashboard/projects/{default_project_id}/forms/risk_screening/fill/submission",
            content=b"x" * 5000, headers={"Content-Type": "multipart/form-data; boundary=b",
                                          "Accept-Language": "ru"})
        assert page.status_code == 413 and page.headers["content-type"].startswith("application/json")
        assert page.json()["slug"] == "payload-too-large"
        assert page.json()["message"] == "Файлы больше, чем принимает этот сервер."


async def test_entity_export_and_report_details_in_the_readers_language(
    client, admin_headers, default_project_id
) -> None:
    """The entities, exports and report services' details are catalogue templates too: the
    detail follows Accept-Language with the values filled in; English stays as it was."""
    pid = default_project_id
    form = f"/v1/projects/{pid}/forms/risk_screening"
    cases = [
        (f"/v1/projects/{pid}/datasets/nope/entities", 404,
         "ru", "В этом проекте нет списка сущностей 'nope'."),
        (f"/v1/projects/{pid}/datasets/nope/entities", 404,
         "tg", "Дар ин лоиҳа рӯйхати объектҳо 'nope' нест."),
        (f"{form}/submissions.csv.zip?since=someday", 400,
         "ru", "since='someday' — не дата и не дата-время ISO."),
        (f"{form}/submissions.xlsx?lang=xx", 400,
         "tg", "Шакл забони 'xx' надорад; забонҳои он: English (en), Russian (ru), Tajik (tg)."),
        (f"{form}/report?by=nothing", 400, "ru", "В форме нет поля 'nothing'."),
    ]
    for path, status, language, detail in cases:
        response = await client.get(path, headers={**admin_headers, "Accept-Language": language})
        assert response.status_code == status, (path, response.text)
        problem = response.json()
        assert problem["detail"] == problem["message"] == detail, (path, language)
    english = await client.get(cases[0][0], headers=admin_headers)
    assert english.json()["detail"] == "No entity list 'nope' in this project."
