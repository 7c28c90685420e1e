"""What pyodk's own end-to-end suite (getodk/pyodk tests/test_client.py, run against a live
Central) checks, re-expressed against a live fieldsurvey server with pyodk from PyPI (pinned in
pyproject.toml). CI cannot fetch that suite, so its scenarios are written here in our words:

- its setup runs on every start and must succeed on a database that already holds its
  fixtures (a second run): forms exist (pyodk recognises Central's code 409.3), submissions
  exist (409.3 again, then the submission's versions are read to edit the newest one);
- XLSForms without a form_id take pyodk's `X-XlsForm-FormId-Fallback` (a `uuid:...` id);
- forms are updated with a new definition, with files, with files only and a version
  function; the newest version is read back from GET .../versions;
- ids that need percent-encoding (`/`, `%`, `'`, `+`, a dingbat) work on every route pyodk uses;
- submissions are created with non-ASCII instance ids and with a file, edited with a comment.
Entities (datasets) are issue 13's and not covered here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyodk.client import Client
from pyodk.errors import PyODKError

from tests.xlsforms import xlsx_bytes

SPECIAL_ID = "'=+/*-451%/%"  # what pyodk's suite means; `/` and `%` must be encoded
FRUITS = "name_key,name\nmango,Mangoe\norange,Orange\n"


def range_xform(form_id: str, version: str) -> str:
    return (
        '<?xml version="1.0"?>'
        '<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" '
        'xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms">'
        "<h:head><h:title>range_draft</h:title><model><instance>"
        f'<data id="{form_id}" version="{version}"><number/><meta><instanceID/></meta></data>'
        '</instance><bind nodeset="/data/number" type="int"/>'
        '<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" '
        'jr:preload="uid"/></model></h:head>'
        '<h:body><input ref="/data/number"><label>A number</label></input></h:body></h:html>'
    )


def fruit_form(form_id: str | None, version: str) -> bytes:
    """An XLSForm with pulldata() on fruits.csv; without form_id when `form_id` is None."""
    settings = [["version", "form_title"], [version, "fruits"]]
    if form_id is not None:
        settings = [["form_id", "version", "form_title"], [form_id, version, "fruits"]]
    return xlsx_bytes({
        "survey": [
            ["type", "name", "label", "calculation"],
            ["calculate", "fruit", None, "pulldata('fruits', 'name', 'name_key', 'mango')"],
            ["note", "note_fruit", "The fruit ${fruit} pulled from csv", None],
        ],
        "settings": settings,
    })


def upload_form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label"], ["text", "name", "Name"], ["file", "file", "File"]],
        "settings": [["form_id", "version", "form_title"], ["upload_file", "1", "upload_file"]],
    })


def fruit_submission(form_id: str, version: str, instance_id: str,
                     deprecated_id: str | None = None) -> str:
    """Built as pyodk's suite builds it: ids pasted in unescaped (a bare `&` included), which
    Central's parser reads as text."""
    deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
    return (
        f'<data id="{form_id}" version="{version}"><meta><instanceID>{instance_id}</instanceID>'
        f"{deprecated}</meta><fruit>Mango</fruit><note_fruit/></data>"
    )


def newest_version(odk: Client, form_id: str) -> str:
    """As pyodk's suite reads it: GET .../versions, newest publishedAt first."""
    response = odk.session.get(odk.session.urlformat(
        "projects/{pid}/forms/{fid}/versions", pid=odk.project_id, fid=form_id))
    assert response.status_code == 200, response.text
    return sorted(response.json(), key=lambda v: v["publishedAt"], reverse=True)[0]["version"]


def create_unless_exists(odk: Client, **kwargs) -> bool:
    """True if created; False if Central's "exists" code came back (pyodk's own check)."""
    try:
        odk.forms.create(**kwargs)
    except PyODKError as err:
        if not err.is_central_error(code=409.3):
            raise
        return False
    return True


def submit_or_newest(odk: Client, form_id: str, instance_id: str) -> str:
    """Create the submission, or when it exists (409.3) the instanceID of its newest version."""
    try:
        return odk.submissions.create(
            xml=fruit_submission(form_id, newest_version(odk, form_id), instance_id),
            form_id=form_id,
        ).instanceId
    except PyODKError as err:
        if not err.is_central_error(code=409.3):
            raise
    versions = odk.session.get(odk.session.urlformat(
        "projects/{pid}/forms/{fid}/submissions/{iid}/versions",
        pid=odk.project_id, fid=form_id, iid=instance_id)).json()
    return sorted(versions, key=lambda v: v["createdAt"], reverse=True)[0]["instanceId"]


def fixtures(odk: Client, folder: Path, fruits: Path) -> list[bool]:
    """pyodk's setUpClass, in our words: forms, then a submission edited with a comment."""
    now = datetime.now(UTC).isoformat()
    stem = folder / "pull_data.xlsx"  # no form_id inside: pyodk sends the stem as fallback
    stem.write_bytes(fruit_form(None, now))
    created = [
        create_unless_exists(odk, definition=range_xform("range_draft", now), form_id="range_draft"),
        create_unless_exists(odk, definition=stem.as_posix(), form_id="pull_data",
                             attachments=[fruits.as_posix()]),
        create_unless_exists(odk, definition=fruit_form(SPECIAL_ID, "1"), form_id=SPECIAL_ID,
                             attachments=[fruits.as_posix()]),
        create_unless_exists(odk, definition=upload_form(), form_id="upload_file"),
    ]
    instance_id = "uuid:07ee9b2f-2271-474c-b9f3-c92ffba80c79"
    newest = submit_or_newest(odk, "pull_data", instance_id)
    odk.submissions.edit(
        xml=fruit_submission("pull_data", newest_version(odk, "pull_data"), uuid.uuid4().hex,
                             deprecated_id=newest),
        form_id="pull_data", instance_id=instance_id, comment="pyODK edit",
    )
    return created


@pytest.fixture(scope="module")
async def e2e(client, admin_headers, live_server, tmp_path_factory):
    project = await client.post(
        "/v1/projects", json={"name": "pyodk e2e"}, headers=admin_headers)
    pid = project.json()["id"]
    folder = tmp_path_factory.mktemp("pyodk-e2e")
    config = folder / "config.toml"
    config.write_text(
        f'[central]\nbase_url = "{live_server.base_url}"\nusername = "admin@test.example"\n'
        f'password = "admin-password-for-tests"\ndefault_project_id = {pid}\n'
    )
    fruits = folder / "fruits.csv"
    fruits.write_text(FRUITS)
    return {"pid": pid, "config": config, "cache": folder / "cache.toml", "folder": folder,
            "fruits": fruits}


def open_client(e2e) -> Client:
    return Client(config_path=e2e["config"], cache_path=e2e["cache"])


def test_setup_runs_twice_on_the_same_server(e2e) -> None:
    with open_client(e2e) as odk:
        assert fixtures(odk, e2e["folder"], e2e["fruits"]) == [True] * 4
        assert fixtures(odk, e2e["folder"], e2e["fruits"]) == [False] * 4  # 409.3 each
        versions = odk.submissions.list_comments(
            form_id="pull_data", instance_id="uuid:07ee9b2f-2271-474c-b9f3-c92ffba80c79")
        assert [c.body for c in versions] == ["pyODK edit", "pyODK edit"]
        ids = {f.xmlFormId for f in odk.forms.list()}
        assert {"range_draft", "pull_data", SPECIAL_ID, "upload_file"} <= ids
        assert "<h:title>fruits</h:title>" in odk.forms.get_xml(form_id="pull_data")
        table = odk.submissions.get_table(
            form_id="pull_data", table_name="Submissions", count=True,
            select="__id,meta/instanceID,__system/formVersion,fruit")
        assert table["@odata.count"] == 1
        assert set(table["value"][0]) == {"__id", "meta", "__system", "fruit"}


def test_create_without_form_id_takes_the_fallback(e2e) -> None:
    with open_client(e2e) as odk:
        form = odk.forms.create(definition=fruit_form(None, "1"),
                                attachments=[e2e["fruits"].as_posix()])
        assert form.xmlFormId.startswith("uuid:")
        form_id = odk.session.get_xform_uuid()
        odk.forms.create(form_id=form_id, definition=range_xform(form_id, "1"))
        assert odk.forms.get(form_id).version == "1"


def test_updates_and_versions(e2e) -> None:
    with open_client(e2e) as odk:
        fixtures(odk, e2e["folder"], e2e["fruits"])
        xml = e2e["folder"] / "range.xml"
        xml.write_text(range_xform("range_draft", "r2"))
        odk.forms.update(form_id="range_draft", definition=xml.as_posix())
        assert newest_version(odk, "range_draft") == "r2"
        dingbat = e2e["folder"] / "✅.xlsx"  # no form_id inside: the file name gives it
        dingbat.write_bytes(fruit_form(None, "d1"))
        odk.forms.create(definition=dingbat.as_posix(), form_id="✅",
                         attachments=[e2e["fruits"].as_posix()])
        dingbat.write_bytes(fruit_form(None, "d2"))
        odk.forms.update(form_id="✅", definition=dingbat.as_posix(),
                         attachments=[e2e["fruits"].as_posix()])
        assert odk.forms.get("✅").xmlFormId == "✅" and newest_version(odk, "✅") == "d2"
        odk.forms.update(form_id=SPECIAL_ID, attachments=[],
                         version_updater=lambda v: "special-2")
        assert newest_version(odk, SPECIAL_ID) == "special-2"
        odk.forms.update(form_id="pull_data", attachments=[e2e["fruits"].as_posix()])
        before = newest_version(odk, "pull_data")
        odk.forms.update(form_id="pull_data", attachments=[e2e["fruits"].as_posix()],
                         version_updater=lambda v: v + "_1")
        assert newest_version(odk, "pull_data") == before + "_1"


def test_submissions_with_non_ascii_ids_and_files(e2e) -> None:
    with open_client(e2e) as odk:
        fixtures(odk, e2e["folder"], e2e["fruits"])
        version = newest_version(odk, SPECIAL_ID)
        iid = f"scna+~!@#$%^&*()_+=-✅✅+{datetime.now().isoformat()}"
        odk.submissions.create(xml=fruit_submission(SPECIAL_ID, version, iid), form_id=SPECIAL_ID)
        got = odk.submissions.get(form_id=SPECIAL_ID, instance_id=iid)
        assert got.instanceId == iid and got.attachments is None

        first = "sena_~~!@#$%^&*()_+=-✅✅"
        old = submit_or_newest(odk, SPECIAL_ID, first)
        odk.submissions.edit(
            xml=fruit_submission(SPECIAL_ID, version, first + datetime.now().isoformat(),
                                 deprecated_id=old),
            form_id=SPECIAL_ID, instance_id=first, comment="pyODK edit ✅",
        )
        assert odk.submissions.get(form_id=SPECIAL_ID, instance_id=first).reviewState == "edited"

        made = odk.submissions.create(
            xml=(f'<data id="upload_file" version="1"><meta><instanceID>'
                 f"{odk.session.get_xform_uuid()}</instanceID></meta><name>file</name>"
                 "<file>fruits.csv</file></data>"),
            form_id="upload_file", attachments=[e2e["fruits"]],
        )
        assert [(a.name, a.exists) for a in made.attachments] == [("fruits.csv", True)]


def test_client_init_patterns_with_requests(e2e) -> None:
    """pyodk's TestClientInit with real requests: a Session without a cache works twice."""
    from pyodk._utils import config as pyodk_config
    from pyodk.client import Session

    settings = pyodk_config.read_config(config_path=e2e["config"])
    for _ in range(2):
        odk = Client(config=settings, session=Session(
            base_url=settings.central.base_url, api_version="v1",
            username=settings.central.username, password=settings.central.password))
        odk.forms.list()
        assert odk.session.headers["Authorization"].startswith("Bearer ")
