"""Deployment settings are read once from the environment and checked."""

from __future__ import annotations

import pytest

from api.settings import Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.disclosure_k) == ("127.0.0.1", 8000, 10)
    assert settings.database_url is None and str(settings.data_dir) == ".data"


def test_disclosure_k_is_refused_below_5() -> None:
    assert Settings.from_env({"FIELDSURVEY_DISCLOSURE_K": "5"}).disclosure_k == 5
    with pytest.raises(ValueError, match="at least 5"):
        Settings.from_env({"FIELDSURVEY_DISCLOSURE_K": "4"})


def test_environment_overrides() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://x/y", "HOST": "0.0.0.0", "PORT": "9000",
                                  "FIELDSURVEY_DATA_DIR": "/srv/fs", "FIELDSURVEY_WORKERS": "2"})
    assert settings.database_url == "postgresql://x/y" and settings.port == 9000
    assert str(settings.attachments_dir) == "/srv/fs/attachments" and settings.workers == 2


def test_publication_settling_time() -> None:
    assert Settings.from_env({}).publication_settle_seconds == 300
    assert Settings.from_env({"FIELDSURVEY_PUBLICATION_SETTLE_SECONDS": "0"}).publication_settle_seconds == 0
    with pytest.raises(ValueError, match="SETTLE_SECONDS must not be negative"):
        Settings.from_env({"FIELDSURVEY_PUBLICATION_SETTLE_SECONDS": "-1"})


def test_every_setting_is_one_entry_read_by_its_type() -> None:
    from api.settings import DOCUMENTED_SETTINGS

    assert len({s.env for s in DOCUMENTED_SETTINGS}) == len(DOCUMENTED_SETTINGS)
    assert all(s.meaning for s in DOCUMENTED_SETTINGS)
    on = Settings.from_env({"FIELDSURVEY_ACCESS_LOG": "1", "FIELDSURVEY_PUBLISH_BUNDLED_FORMS": "0",
                            "FIELDSURVEY_BODY_SECONDS": "2.5", "FIELDSURVEY_PUBLIC_URL": ""})
    assert on.access_log is True and on.publish_bundled_forms is False
    assert on.body_seconds == 2.5 and on.public_url is None
    with pytest.raises(ValueError, match="PORT='eighty' is not a valid int"):
        Settings.from_env({"PORT": "eighty"})
    with pytest.raises(ValueError, match="FIELDSURVEY_ACCESS_LOG='maybe'"):
        Settings.from_env({"FIELDSURVEY_ACCESS_LOG": "maybe"})
    assert "admin_password" not in repr(Settings(admin_password="secret-value"))


def test_attachment_store_setting() -> None:
    assert Settings.from_env({}).attachments == "local"
    assert Settings.from_env({"FIELDSURVEY_ATTACHMENTS": "postgres"}).attachments == "postgres"
    s3 = "s3://bucket/files?endpoint=https://s3.example.org&region=eu-central-1"
    assert Settings.from_env({"FIELDSURVEY_ATTACHMENTS": s3}).attachments == s3
    for bad, reason in [("ftp://x", "not an S3 location"), ("s3://", "not an S3 location"),
                        ("s3://b?endpoint=s3.example.org", "http"),
                        ("s3://b?secret=x", "unknown S3 option"), ("Postgres", "not an S3")]:
        with pytest.raises(ValueError, match=reason):
            Settings.from_env({"FIELDSURVEY_ATTACHMENTS": bad})


def test_s3_locations() -> None:
    from api.storage import S3Location, parse_s3_url

    assert parse_s3_url("s3://b") == S3Location("b")
    assert parse_s3_url("s3://b/a/b/?endpoint=http://127.0.0.1:9000&region=r") == S3Location(
        "b", "a/b/", "http://127.0.0.1:9000", "r")
