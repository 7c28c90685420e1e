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
