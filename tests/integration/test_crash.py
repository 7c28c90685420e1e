"""Crash safety: kill -9 the server while phones submit. After a restart, every submission that
got a 201 is there with its files and classification, and none is half there."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx

from forms.compile import compile_xlsform
from forms.schema import parse_xform
from tests.conftest import LiveServer
from tests.instances import instance_xml
from tests.xlsforms import XLSX, xlsx_bytes

LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
HEADERS = {"X-OpenRosa-Version": "1.0", "User-Agent": "org.odk.collect.android/crash-test"}


def photo_form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "parameters"], ["integer", "n", "N", None],
                   ["image", "photo", "Photo", "max-pixels=640"]],
        "settings": [["form_id", "version"], ["crash_photo", "1"]],
    })


def photo_xml(instance_id: str) -> bytes:
    return (f'<data id="crash_photo" version="1"><n>1</n><photo>p.jpg</photo>'
            f"<meta><instanceID>{instance_id}</instanceID></meta></data>").encode()


async def test_kill_9_during_submissions_loses_nothing_acknowledged(
    client, admin_headers, database_url, data_dir, pool
) -> None:
    project = (await client.post("/v1/projects", json={"name": f"crash-{uuid.uuid4().hex[:6]}"},
                                 headers=admin_headers)).json()
    pid = project["id"]
    created = await client.post(f"/v1/projects/{pid}/forms?publish=true", content=photo_form(),
                                headers={**admin_headers, "Content-Type": XLSX})
    assert created.status_code == 200, created.text
    screening = compile_xlsform((LIBRARY / "risk_screening.xlsx").read_bytes(), validate=False)
    created = await client.post(f"/v1/projects/{pid}/forms?publish=true", content=screening.xform.encode(),
                                headers={**admin_headers, "Content-Type": "application/xml"})
    assert created.status_code == 200, created.text
    schema = parse_xform(screening.xform)
    app_user = (await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "crash"},
                                  headers=admin_headers)).json()
    for form_id in ("crash_photo", "risk_screening"):
        await client.post(f"/v1/projects/{pid}/forms/{form_id}/assignments/app-user/{app_user['id']}",
                          headers=admin_headers)

    server = LiveServer(database_url, data_dir)
    server.start()
    url = f"{server.base_url}/v1/key/{app_user['token']}/projects/{pid}/submission"
    acknowledged: list[tuple[str, str, bytes]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def phone(index: int) -> None:
        with httpx.Client(headers=HEADERS, timeout=10) as http:
            n = 0
            while not stop.is_set():
                n += 1
                instance = f"uuid:{uuid.uuid4()}"
                if n % 2:
                    xml, kind = photo_xml(instance), "photo"
                    files = [("xml_submission_file", ("s.xml", xml, "text/xml")),
                             ("p.jpg", ("p.jpg", f"photo {instance}".encode(), "image/jpeg"))]
                else:
                    xml, kind = instance_xml(schema, {"consent": "yes", "age": str(10 + n % 50),
                                                      "plans_work_abroad": "yes"}, instance_id=instance), "screening"
                    files = [("xml_submission_file", ("s.xml", xml, "text/xml"))]
                try:
                    response = http.post(url, files=files)
                except httpx.TransportError:
                    return  # the server died under us: Collect would retry later
                if response.status_code == 201:
                    with lock:
                        acknowledged.append((instance, kind, xml))

    threads = [threading.Thread(target=phone, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(acknowledged) < 150:
        time.sleep(0.05)
    server.kill()  # SIGKILL, mid-stream
    stop.set()
    for thread in threads:
        thread.join(15)
    assert len(acknowledged) >= 20, "too few submissions before the kill to mean anything"

    restarted = LiveServer(database_url, data_dir)
    restarted.start()
    try:
        from api.storage.local import LocalAttachmentStore

        store = LocalAttachmentStore(data_dir / "attachments")
        for instance, kind, xml in acknowledged:
            row = await pool.fetchrow(
                "SELECT s.id, v.xml, v.attachments_expected, v.attachments_present FROM submissions s "
                "JOIN submission_versions v ON v.id = s.current_version_id WHERE s.instance_id = $1", instance)
            assert row is not None, f"acknowledged {instance} is missing after the crash"
            assert bytes(row["xml"]) == xml
            if kind == "photo":
                assert (row["attachments_expected"], row["attachments_present"]) == (1, 1)
                key = await pool.fetchval(
                    "SELECT a.blob_key FROM submission_attachments a JOIN submissions s "
                    "ON s.current_version_id = a.version_id WHERE s.instance_id = $1", instance)
                assert await store.get(key) == f"photo {instance}".encode()
            else:
                assert await pool.fetchval("SELECT count(*) FROM screenings WHERE submission_id = $1", row["id"]) == 1
        # nothing is half there: every stored submission of the project is whole
        broken = await pool.fetchval(
            """SELECT count(*) FROM submissions s JOIN forms f ON f.id = s.form_id
               LEFT JOIN submission_versions v ON v.id = s.current_version_id
               LEFT JOIN screenings sc ON sc.submission_id = s.id
               WHERE f.project_id = $1 AND (v.id IS NULL
                  OR (f.xml_form_id = 'risk_screening' AND sc.submission_id IS NULL)
                  OR v.attachments_expected <> (SELECT count(*) FROM submission_attachments a WHERE a.version_id = v.id))""",
            pid)
        assert broken == 0
        # and the restarted server takes submissions again
        with httpx.Client(headers=HEADERS, timeout=10) as http:
            again = f"uuid:{uuid.uuid4()}"
            response = http.post(url.replace(server.base_url, restarted.base_url),
                                 files=[("xml_submission_file", ("s.xml", photo_xml(again), "text/xml"))])
            assert response.status_code == 201
    finally:
        restarted.stop()
