"""The nightly backup's systemd units (deploy/): valid for systemd, running `fieldsurvey backup`
with the passphrase as a credential and --keep, installed by deploy/install.sh."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import ROOT, require

SERVICE = ROOT / "deploy" / "fieldsurvey-backup.service"
TIMER = ROOT / "deploy" / "fieldsurvey-backup.timer"


def test_units_are_valid_for_systemd() -> None:
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze (systemd)")
    checked = subprocess.run(["systemd-analyze", "verify", str(SERVICE), str(TIMER)],
                             capture_output=True, text=True, timeout=60)
    # the program itself is installed by deploy/install.sh, not here
    problems = [line for line in checked.stderr.splitlines()
                if line.strip() and "/opt/fieldsurvey/venv/bin/fieldsurvey is not executable"
                not in line]
    assert problems == []


def test_the_service_backs_up_encrypted_keeping_the_newest() -> None:
    service = SERVICE.read_text()
    assert "ExecStart=/opt/fieldsurvey/venv/bin/fieldsurvey backup --output" in service
    assert "--passphrase-file ${CREDENTIALS_DIRECTORY}/passphrase" in service
    assert "LoadCredential=passphrase:/etc/fieldsurvey/backup-passphrase" in service
    assert "--keep ${BACKUP_KEEP}" in service and "--no-encryption" not in service
    timer = TIMER.read_text()
    assert "OnCalendar=*-*-* 02:30:00" in timer and "Persistent=true" in timer
    install = (ROOT / "deploy" / "install.sh").read_text()
    assert '"$HERE/fieldsurvey-backup.service"' in install
    assert '"$HERE/fieldsurvey-backup.timer"' in install
