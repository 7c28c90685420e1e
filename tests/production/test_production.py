"""The production path on one server (docs/deploying.md), through HTTPS as phones and people
reach it: the built wheel in a fresh venv, Debian's PostgreSQL, Caddy running deploy/Caddyfile
with `tls internal`. Clients connect from 127.0.0.2, Caddy from 127.0.0.1."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openpyxl
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from api import __version__
from tests.conftest import ROOT, require
from tests.production.conftest import CLIENT_ADDRESS, ProductionServer, free_port
from tests.xlsforms import XLSX, xlsx_bytes

ADMIN_EMAIL = "admin@ngo.example"
ADMIN_PASSWORD = "production-admin-password"
MAX_BODY = 2 * 1024 * 1024  # the server's limit and Caddy's (the same variable)
COLLECT = {"X-OpenRosa-Version": "1.0",
           "User-Agent": "org.odk.collect.android/v2025.3.0 Dalvik/2.1.0 (Linux; U; Android 14)"}
NS_LIST = "{http://openrosa.org/xforms/xformsList}"
METRICS_TOKEN = "production-metrics-token"


def test_the_wheel_brings_what_the_server_reads(fieldsurvey_wheel: Path) -> None:
    names = set(zipfile.ZipFile(fieldsurvey_wheel).namelist())
    expected = {
        "api/pages/templates/base.html",
        "api/webforms/dist/.vite/manifest.json",
        "api/pages/node_modules/chart.js/dist/chart.umd.js",
        "api/pages/node_modules/htmx.org/dist/htmx.min.js",
        *(f"api/pages/locale/{lang}/LC_MESSAGES/messages.mo" for lang in ("en", "ru", "tg")),
        *(f"db/migrations/{p.name}" for p in (ROOT / "db" / "migrations").glob("*.sql")),
        *(f"forms/library/{p.name}" for p in (ROOT / "forms" / "library").glob("*.xlsx")),
        *(f"api/pages/static/{p.name}" for p in (ROOT / "api" / "pages" / "static").iterdir()),
    }
    assert expected - names == set()
    assert any(n.startswith("api/webforms/dist/assets/") for n in names)
    assert not any(n.startswith("tests/") for n in names)


@pytest.fixture(scope="module")
def stack(debian_postgres, start_server, start_caddy):
    """One app server from the wheel on Debian's PostgreSQL, behind Caddy (tls internal)."""
    database_url = debian_postgres.create_database()
    port = free_port()
    caddy = start_caddy([f"127.0.0.1:{port}"], FIELDSURVEY_MAX_SUBMISSION_BYTES=str(MAX_BODY))
    server = start_server(
        database_url, port=port,
        FIELDSURVEY_ADMIN_EMAIL=ADMIN_EMAIL, FIELDSURVEY_ADMIN_PASSWORD=ADMIN_PASSWORD,
        FIELDSURVEY_PUBLIC_URL=caddy.https_url,
        FIELDSURVEY_MAX_SUBMISSION_BYTES=str(MAX_BODY),
        FIELDSURVEY_WORKERS="2", FIELDSURVEY_METRICS_TOKEN=METRICS_TOKEN,
    )
    caddy.wait_until_serving()
    with caddy.client() as http:
        token = http.post("/v1/sessions", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert token.status_code == 200, token.text
        admin = {"Authorization": f"Bearer {token.json()['token']}"}
        project = http.post("/v1/projects", json={"name": "Field office"}, headers=admin).json()
    return {"caddy": caddy, "server": server, "admin": admin, "pid": project["id"],
            "database_url": database_url}


def photo_form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "parameters"], ["text", "place", "Place", None],
                   ["image", "photo", "Photo", "max-pixels=1024"]],
        "settings": [["form_id", "version", "form_title"], ["site_visit", "1", "Site visit"]],
    })


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def submission(instance_id: str, place: str) -> bytes:
    return (f'<data id="site_visit" version="1"><place>{place}</place><photo>photo.jpg</photo>'
            f"<meta><instanceID>{instance_id}</instanceID></meta></data>").encode()


def test_https_redirect_and_headers(stack) -> None:
    caddy = stack["caddy"]
    plain = httpx.get(f"{caddy.http_url}/health", follow_redirects=False)
    assert plain.status_code in (301, 308)
    # (Caddy 2.6 names no port in the redirect: in production HTTPS is on 443)
    location = urlsplit(plain.headers["Location"])
    assert (location.scheme, location.hostname, location.path) == ("https", "127.0.0.1", "/health")
    with caddy.client() as http:
        health = http.get("/health")
        assert health.status_code == 200
        assert health.headers["Strict-Transport-Security"].startswith("max-age=")
        # the bundled XLSForms came with the wheel and were published on first start
        default = [p for p in http.get("/v1/projects", headers=stack["admin"]).json()
                   if p["name"] == "Default"]
        forms = http.get(f"/v1/projects/{default[0]['id']}/forms", headers=stack["admin"]).json()
        assert "risk_screening" in {f["xmlFormId"] for f in forms}
        # a page in Russian, from the wheel's templates and compiled catalogue
        page = http.get("/login", headers={"Accept-Language": "ru"})
        assert page.status_code == 200 and 'lang="ru"' in page.text
        assert http.get("/static/vendor/chartjs/chart.umd.js").status_code == 200
    version = subprocess.run([str(stack["server"].venv / "bin" / "fieldsurvey"), "--version"],
                             capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"fieldsurvey {__version__}"


def test_phone_and_web_user_submit_with_a_photo(stack) -> None:
    caddy, admin, pid = stack["caddy"], stack["admin"], stack["pid"]
    photo = jpeg()
    with caddy.client() as http:
        uploaded = http.post(f"/v1/projects/{pid}/forms?publish=true", content=photo_form(),
                             headers={**admin, "Content-Type": XLSX})
        assert uploaded.status_code == 200, uploaded.text
        phone = http.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone 1"},
                          headers=admin).json()
        assert http.post(f"/v1/projects/{pid}/forms/site_visit/assignments/app-user/{phone['id']}",
                         headers=admin).status_code == 200
        email, password = f"collector-{uuid.uuid4().hex[:6]}@ngo.example", uuid.uuid4().hex
        user = http.post("/v1/users", json={"email": email, "password": password}, headers=admin)
        assert user.status_code == 200, user.text
        assert http.post(f"/v1/projects/{pid}/assignments/collector/{user.json()['id']}",
                         headers=admin).status_code == 200

        sent = {}
        for who, base, auth in (
            ("phone", f"/v1/key/{phone['token']}/projects/{pid}", None),
            ("web user", f"/v1/projects/{pid}", httpx.BasicAuth(email, password)),
        ):
            listing = http.get(f"{base}/formList", headers=COLLECT, auth=auth)
            assert listing.status_code == 200, (who, listing.text)
            (entry,) = [x for x in ET.fromstring(listing.content).iter(f"{NS_LIST}xform")
                        if x.findtext(f"{NS_LIST}formID") == "site_visit"]
            download = entry.findtext(f"{NS_LIST}downloadUrl")
            assert download.startswith(caddy.https_url + "/"), download
            xform = http.get(download, headers=COLLECT, auth=auth)
            assert xform.status_code == 200 and b"site_visit" in xform.content
            instance_id = f"uuid:{uuid.uuid4()}"
            posted = http.post(
                f"{base}/submission", headers=COLLECT, auth=auth,
                files=[("xml_submission_file", ("s.xml", submission(instance_id, who), "text/xml")),
                       ("photo.jpg", ("photo.jpg", photo, "image/jpeg"))],
            )
            assert posted.status_code == 201, (who, posted.text)
            sent[who] = instance_id

        for who, instance_id in sent.items():
            stored = http.get(f"/v1/projects/{pid}/forms/site_visit/submissions/{instance_id}"
                              "/attachments/photo.jpg", headers=admin)
            assert stored.status_code == 200 and stored.content == photo, who

        # the XLSX export streams through Caddy (no Content-Length: chunk by chunk)
        with http.stream("GET", f"/v1/projects/{pid}/forms/site_visit/submissions.xlsx",
                         headers=admin) as export:
            assert export.status_code == 200
            assert "content-length" not in export.headers
            assert export.headers.get("transfer-encoding") == "chunked"
            body = b"".join(export.iter_bytes())
        sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
        cells = {c for row in sheet.iter_rows(values_only=True) for c in row}
        assert set(sent.values()) <= cells


def test_metrics_on_the_machine_or_with_the_token(stack) -> None:
    """Two workers: a scrape of either sums both (prometheus-client's multiprocess mode)."""
    with stack["caddy"].client() as http:
        for _ in range(10):
            assert http.get("/health").status_code == 200
        assert http.get("/metrics").status_code == 401  # through the proxy, no token
        with_token = http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    direct = httpx.get(f"{stack['server'].url}/metrics")  # on the machine, not proxied
    for answer in (with_token, direct):
        assert answer.status_code == 200
        found = {(s.name, tuple(sorted(s.labels.items()))): s.value
                 for f in text_string_to_metric_families(answer.text) for s in f.samples}
        health = sum(v for (name, labels), v in found.items()
                     if name == "fieldsurvey_requests_total" and dict(labels)["route"] == "/health")
        assert health >= 10
        assert found[("fieldsurvey_submissions_stored_total", (("outcome", "created"),))] >= 2
        assert any(name == "fieldsurvey_db_pool_connections" for name, _ in found)


def test_a_body_over_the_limit_is_refused(stack) -> None:
    url = f"/v1/projects/{stack['pid']}/forms"
    headers = {**stack["admin"], "Content-Type": XLSX}
    with stack["caddy"].client() as http:
        # declared too long: Caddy answers before the body is sent
        declared = http.post(url, content=b"x" * (MAX_BODY + 1), headers=headers)
        assert declared.status_code == 413
        # chunked, no length: it reaches the server, whose limit is the same
        chunked = http.post(url, content=iter([b"x" * (MAX_BODY // 4)] * 5), headers=headers)
        assert chunked.status_code == 413
        assert chunked.headers["Content-Type"].startswith("application/problem+json")


def test_browser_login_is_secure_and_audited_with_the_clients_address(stack) -> None:
    with stack["caddy"].client() as http:
        page = http.get("/login")
        token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        login = http.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                          "_csrf_token": token}, follow_redirects=False)
        assert login.status_code == 303, login.text
        cookies = login.headers.get_list("set-cookie")
        session = [c for c in cookies if c.startswith("fieldsurvey_session=")]
        assert session and "Secure" in session[0] and "HttpOnly" in session[0]
        assert all("Secure" in c for c in page.headers.get_list("set-cookie"))
        assert http.get("/dashboard", follow_redirects=False).status_code == 200

        audits = http.get("/v1/audits", params={"action": "user.session.create"},
                          headers=stack["admin"]).json()
    addresses = {a["details"].get("ip") for a in audits if a.get("details")}
    assert CLIENT_ADDRESS in addresses
    assert "127.0.0.1" not in addresses  # never the proxy's


def test_install_sh_twice_then_its_units_and_its_server(installed, tmp_path) -> None:
    """deploy/install.sh --root (the `installed` fixture): every file it writes, the database
    and role it makes, the administrator's password printed on the first run only; the units
    pass systemd-analyze; the server it installed serves with the settings it wrote."""
    require(shutil.which("shellcheck") is not None, "ShellCheck (apt-get install shellcheck)")
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze (apt-get install systemd)")
    checked = subprocess.run(["shellcheck", str(ROOT / "deploy" / "install.sh")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout

    root, runs = installed.root, installed.runs
    passwords = [re.findall(r"password: (\S+)", run.stdout) for run in runs]
    assert len(passwords[0]) == 1 and passwords[1] == []  # printed once
    assert f"fieldsurvey {__version__} serves https://127.0.0.1/" in runs[1].stdout

    settings = dict(line.split("=", 1) for line in
                    (root / "etc/fieldsurvey/fieldsurvey.env").read_text().splitlines()
                    if line and not line.startswith("#"))
    assert settings["FIELDSURVEY_PUBLIC_URL"] == "https://127.0.0.1"
    assert settings["FIELDSURVEY_WORKERS"] == "3"
    assert (root / "etc/fieldsurvey/fieldsurvey.env").stat().st_mode & 0o007 == 0
    assert (root / "etc/caddy/Caddyfile").read_bytes() == (ROOT / "deploy/Caddyfile").read_bytes()
    caddy_env = (root / "etc/fieldsurvey/caddy.env").read_text()
    assert "FIELDSURVEY_TLS=internal" in caddy_env
    assert f"FIELDSURVEY_MAX_SUBMISSION_BYTES={settings['FIELDSURVEY_MAX_SUBMISSION_BYTES']}" \
        in caddy_env

    # systemd-analyze verify in that root: systemd's own units beside ours, the binaries the
    # units start where they name them (the venv install.sh made; Caddy's)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(shutil.which("caddy"), root / "usr/bin/caddy")
    for unit in ("fieldsurvey.service", "caddy.service", "fieldsurvey-backup.service",
                 "fieldsurvey-backup.timer"):
        verified = subprocess.run(["systemd-analyze", "verify", f"--root={root}", unit],
                                  capture_output=True, text=True)
        assert verified.returncode == 0 and verified.stderr == "", (unit, verified.stderr)
    drop_in = subprocess.run(["systemd-analyze", "cat-config", f"--root={root}",
                              "systemd/system/caddy.service.d/fieldsurvey.conf"],
                             capture_output=True, text=True)
    assert "EnvironmentFile=/etc/fieldsurvey/caddy.env" in drop_in.stdout, drop_in.stderr
    unit = (root / "etc/systemd/system/fieldsurvey.service").read_text()
    for line in ("User=fieldsurvey", "Restart=on-failure", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "EnvironmentFile=/etc/fieldsurvey/fieldsurvey.env",
                 "--forwarded-allow-ips 127.0.0.1"):
        assert line in unit

    # the installed server, with the settings install.sh wrote, and the printed password
    server = ProductionServer(installed.venv, settings["DATABASE_URL"], tmp_path,
                              {"FIELDSURVEY_PUBLISH_BUNDLED_FORMS": "0"})
    try:
        server.start()
        login = httpx.post(f"{server.url}/v1/sessions", json={
            "email": "admin@fieldsurvey.local", "password": passwords[0][0]})
        assert login.status_code == 200, login.text
    finally:
        server.stop()
