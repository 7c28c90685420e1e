"""Stored script on our own origin (hardening, third round): a file that anyone who may submit or
upload chose the name and Content-Type of is served by one function on every route, and never
as a page that runs: HTML, SVG and XML are downloads with a neutral type; every stored file has
`nosniff` and a sandboxing CSP; only raster images, audio and video may show inline.

Before the fix the browser-edit route and the form-media routes (fill, preview, edit, the
anonymous /f/{token}) answered `text/html` as the uploader said, with no Content-Disposition."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from tests.pages_client import anonymous, signed_in
from tests.xlsforms import XLSX, xlsx_bytes

FORM_ID = "planted"
SCRIPT = b"<html><body><script>localStorage.setItem('pwned', document.cookie)</script></body></html>"
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg"><script>localStorage.setItem("pwned", 1)'
       b"</script></svg>")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
OPENROSA = {"X-OpenRosa-Version": "1.0"}
ADMIN = ("admin@test.example", "admin-password-for-tests")
# the uploader's names and types: none of them may reach a browser as a document
MEDIA = {"evil.html": ("text/html", SCRIPT), "evil.svg": ("image/svg+xml", SVG),
         "evil.xml": ("text/xml", SCRIPT), "evil.js": ("text/javascript", b"alert(1)"),
         "pic.png": ("text/html", PNG)}


def planted_form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "media::image"],
                   *[["note", f"n{i}", "Look", name] for i, name in enumerate(MEDIA)],
                   ["text", "what", "What", ""],
                   ["file", "upload", "A file", ""]],
        "settings": [["form_id", "version"], [FORM_ID, "1"]],
    })


def submission(instance_id: str, file_name: str) -> bytes:
    return (f'<?xml version="1.0"?><data id="{FORM_ID}" version="1"><what>x</what>'
            f"<upload>{file_name}</upload><meta><instanceID>{instance_id}</instanceID></meta>"
            "</data>").encode()


def assert_never_a_page(response, name: str, *, inline_type: str | None = None) -> None:
    assert response.status_code == 200, (name, response.status_code, response.text[:300])
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff", name
    assert "sandbox" in headers["content-security-policy"], name
    assert "default-src 'none'" in headers["content-security-policy"], name
    media_type = headers["content-type"].split(";")[0].strip()
    if inline_type is not None:
        assert media_type == inline_type, (name, media_type)
        return
    assert headers["content-disposition"].startswith("attachment"), (name, headers)
    # a download keeps a raster image's own type; anything else is neutral
    assert media_type in ("application/octet-stream", "text/csv", "image/png"), (name, media_type)
    assert media_type != "image/png" or name.endswith(".png"), (name, media_type)


@pytest.fixture(scope="module")
async def planted(client, admin_headers):
    pid = (await client.post("/v1/projects", json={"name": f"planted-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)).json()["id"]
    base = f"/v1/projects/{pid}/forms"
    created = await client.post(base, content=planted_form(),
                                headers={**admin_headers, "Content-Type": XLSX})
    assert created.status_code == 200, created.text
    for name, (content_type, content) in MEDIA.items():
        uploaded = await client.post(f"{base}/{FORM_ID}/draft/attachments/{name}", content=content,
                                     headers={**admin_headers, "Content-Type": content_type})
        assert uploaded.status_code == 200, (name, uploaded.text)
    return {"pid": pid, "base": base}


async def test_form_media_is_never_served_as_a_page(client, admin_headers, planted) -> None:
    pid, base = planted["pid"], planted["base"]
    admin = await signed_in(client, *ADMIN)
    pages = f"/dashboard/projects/{pid}/forms/{FORM_ID}"
    for name in MEDIA:
        assert_never_a_page(await admin.get(client, f"{pages}/preview/attachments/{name}"),
                            f"preview {name}", inline_type="image/png" if name == "pic.png" else None)
    published = await client.post(f"{base}/{FORM_ID}/draft/publish", headers=admin_headers)
    assert published.status_code == 200, published.text
    link = (await client.post(f"{base}/{FORM_ID}/public-links", json={"displayName": "kiosk"},
                              headers=admin_headers)).json()
    visitor = await anonymous(client)
    for name in MEDIA:
        png = "image/png" if name == "pic.png" else None
        assert_never_a_page(await admin.get(client, f"{pages}/fill/attachments/{name}"),
                            f"fill {name}", inline_type=png)
        assert_never_a_page(await visitor.get(client, f"/f/{link['token']}/attachments/{name}"),
                            f"public link {name}", inline_type=png)
        # Collect's own download: a file, whatever its name
        collect = await client.get(f"/v1/projects/{pid}/forms/{FORM_ID}/attachments/{name}",
                                   headers={**admin_headers, **OPENROSA})
        assert_never_a_page(collect, f"openrosa {name}")
        assert collect.content == MEDIA[name][1]


@pytest.mark.parametrize("name,content_type,content", [
    ("x.html", "text/html", SCRIPT), ("x.svg", "image/svg+xml", SVG),
    ("x.js", "application/javascript", b"alert(1)"), ("x.png", "text/html", PNG),
])
async def test_submission_files_are_never_served_as_a_page(
        client, admin_headers, planted, name, content_type, content) -> None:
    pid, base = planted["pid"], planted["base"]
    if (await client.get(f"{base}/{FORM_ID}", headers=admin_headers)).json().get("publishedAt") is None:
        await client.post(f"{base}/{FORM_ID}/draft/publish", headers=admin_headers)
    instance = f"uuid:{uuid.uuid4()}"
    sent = await client.post(f"/v1/projects/{pid}/submission", headers={**admin_headers, **OPENROSA},
                             files={"xml_submission_file": ("s.xml", submission(instance, name), "text/xml"),
                                    name: (name, content, content_type)})
    assert sent.status_code == 201, sent.text
    admin = await signed_in(client, *ADMIN)
    one = f"/projects/{pid}/forms/{FORM_ID}/submissions/{quote(instance, safe='')}"
    png = "image/png" if name.endswith(".png") else None
    responses = {
        "edit": (await admin.get(client, f"/dashboard{one}/edit/files/{name}"), png),
        "page": (await admin.get(client, f"{one}/files/{name}"), png),
        "page download": (await admin.get(client, f"{one}/files/{name}?download=1"), None),
        "rest": (await client.get(f"{base}/{FORM_ID}/submissions/{quote(instance, safe='')}"
                                  f"/attachments/{name}", headers=admin_headers), None),
    }
    for route, (response, inline_type) in responses.items():
        assert_never_a_page(response, f"{route} {name}", inline_type=inline_type)
        assert response.content == content


def test_content_disposition_escapes_every_name() -> None:
    from api.http import content_disposition

    value = content_disposition('a"b\\c\r\nd.html')
    assert value.startswith('attachment; filename="a_b_c__d.html"')
    assert "filename*=UTF-8''a%22b%5Cc%0D%0Ad.html" in value
    assert "\r" not in value and "\n" not in value
    russian = content_disposition("отчёт.xlsx")
    assert russian.endswith("filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.xlsx")
