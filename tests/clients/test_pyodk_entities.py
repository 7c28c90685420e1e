"""pyodk 1.3.0's own entity tests (tests/test_client.py: client.entities, client.entity_lists),
re-expressed against a running fieldsurvey server with pyodk unchanged from PyPI."""

from __future__ import annotations

import uuid

import pytest
from pyodk.client import Client
from pyodk.errors import PyODKError


@pytest.fixture(scope="module")
async def central(client, admin_headers, make_user, live_server, tmp_path_factory):
    project = await client.post(
        "/v1/projects", json={"name": f"pyodk-entities-{uuid.uuid4().hex[:6]}"},
        headers=admin_headers,
    )
    pid = project.json()["id"]
    manager = await make_user("manager", pid)
    folder = tmp_path_factory.mktemp("pyodk-entities")
    config = folder / "pyodk_config.toml"
    config.write_text(
        "[central]\n"
        f'base_url = "{live_server.base_url}"\n'
        f'username = "{manager["email"]}"\n'
        f'password = "{manager["password"]}"\n'
        f"default_project_id = {pid}\n"
    )
    with Client(config_path=config, cache_path=folder / "pyodk_cache.toml") as odk:
        # pyodk's create_test_entity_lists: the list its entity tests share
        odk.entity_lists.create(entity_list_name="pyodk_test_eln")
        for prop in ("test_label", "another_prop"):
            odk.entity_lists.add_property(name=prop, entity_list_name="pyodk_test_eln")
    return {"pid": pid, "config": config, "cache": folder / "pyodk_cache.toml"}


@pytest.fixture
def odk(central):
    with Client(config_path=central["config"], cache_path=central["cache"]) as c:
        yield c


def test_entities__create_and_query(odk) -> None:
    odk.entities.default_entity_list_name = "pyodk_test_eln"
    entity = odk.entities.create(
        label="test_label", data={"test_label": "test_value", "another_prop": "another_value"}
    )
    assert entity.currentVersion.data == {"test_label": "test_value",
                                          "another_prop": "another_value"}
    assert entity.uuid in [e.uuid for e in odk.entities.list()]
    table = odk.entities.get_table(select="__id")
    assert entity.uuid in [d["__id"] for d in table["value"]]


def test_entities__update(odk) -> None:
    odk.entities.default_entity_list_name = "pyodk_test_eln"
    entity = odk.entities.create(
        label="test_label", data={"test_label": "test_value", "another_prop": "another_value"}
    )
    updated = odk.entities.update(
        label="test_label", data={"test_label": "test_value2", "another_prop": "another_value2"},
        uuid=entity.uuid, base_version=entity.currentVersion.version,
    )
    assert updated.currentVersion.data["test_label"] == "test_value2"
    assert updated.currentVersion.baseVersion == 1
    forced = odk.entities.update(
        label="test_label", data={"test_label": "test_value3", "another_prop": "another_value3"},
        uuid=entity.uuid, force=True,
    )
    assert forced.currentVersion.data["test_label"] == "test_value3"
    assert forced.currentVersion.version == 3
    with pytest.raises(PyODKError):  # a stale baseVersion without force is refused
        odk.entities.update(label="x", uuid=entity.uuid, base_version=1)


def test_entity__merge__new(odk) -> None:
    odk.entity_lists.default_entity_list_name = odk.session.get_xform_uuid()
    entity_list = odk.entity_lists.create()
    odk.entities.merge(
        data=[{"label": "Sydney", "state": "NSW"}, {"label": "Melbourne", "state": "VIC"}],
        entity_list_name=entity_list.name,
    )
    assert len(odk.entities.get_table(entity_list_name=entity_list.name)["value"]) == 2


def _observed(odk, name: str, keys) -> list[dict]:
    return [{k: o.get(k) for k in keys}
            for o in odk.entities.get_table(entity_list_name=name)["value"]]


def test_entity__merge__existing__add_props__delete_unmatched(odk) -> None:
    odk.entity_lists.default_entity_list_name = odk.session.get_xform_uuid()
    entity_list = odk.entity_lists.create()
    odk.entity_lists.add_property(name="state", entity_list_name=entity_list.name)
    odk.entities.create_many(
        data=[{"label": "Sydney", "state": "VIC"}, {"label": "Darwin", "state": "NT"}],
        entity_list_name=entity_list.name,
    )
    odk.entities.merge(
        data=[{"label": "Sydney", "state": "NSW", "postcode": "2001"},
              {"label": "Brisbane", "state": "QLD", "postcode": "4000"}],
        entity_list_name=entity_list.name, add_new_properties=True, delete_not_matched=True,
    )
    observed = _observed(odk, entity_list.name, ("state", "label", "postcode"))
    expected = [{"label": "Sydney", "state": "NSW", "postcode": "2001"},
                {"label": "Brisbane", "state": "QLD", "postcode": "4000"}]
    assert len(observed) == 2 and all(e in observed for e in expected), observed


def test_entity__merge__existing__ignore_props__keep_unmatched(odk) -> None:
    odk.entity_lists.default_entity_list_name = odk.session.get_xform_uuid()
    entity_list = odk.entity_lists.create()
    odk.entity_lists.add_property(name="state", entity_list_name=entity_list.name)
    odk.entities.create_many(
        data=[{"label": "Sydney", "state": "VIC"}, {"label": "Darwin", "state": "NT"}],
        entity_list_name=entity_list.name,
    )
    odk.entities.merge(
        data=[{"label": "Sydney", "state": "NSW", "postcode": "2000"},
              {"label": "Brisbane", "state": "QLD", "postcode": "4000"}],
        entity_list_name=entity_list.name, add_new_properties=False, delete_not_matched=False,
    )
    observed = _observed(odk, entity_list.name, ("state", "label"))
    expected = [{"label": "Sydney", "state": "NSW"}, {"label": "Brisbane", "state": "QLD"},
                {"label": "Darwin", "state": "NT"}]
    assert len(observed) == 3 and all(e in observed for e in expected), observed
    table = odk.entities.get_table(entity_list_name=entity_list.name)["value"]
    assert all("postcode" not in row for row in table)


def test_entity_lists__list(odk) -> None:
    assert len(odk.entity_lists.list()) > 0


def test_entity_lists__create_and_query(odk, central) -> None:
    odk.entity_lists.default_entity_list_name = odk.session.get_xform_uuid()
    entity_list = odk.entity_lists.create()
    assert entity_list.projectId == central["pid"] and entity_list.approvalRequired is False
    assert (entity_list.name, entity_list.projectId) in [
        (e.name, e.projectId) for e in odk.entity_lists.list()]


def test_entity_lists__add_property(odk) -> None:
    odk.entity_lists.default_entity_list_name = odk.session.get_xform_uuid()
    odk.entity_lists.create()
    odk.entity_lists.add_property(name="test")
    assert [p.name for p in odk.entity_lists.get().properties] == ["test"]


def test_existing_list_is_a_409(odk) -> None:
    """pyodk's create_new_or_get_entity_list relies on this answer for an existing list."""
    with pytest.raises(PyODKError) as caught:
        odk.entity_lists.create(entity_list_name="pyodk_test_eln")
    assert caught.value.args[-1].status_code == 409
