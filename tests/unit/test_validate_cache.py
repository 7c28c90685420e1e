"""ODK Validate's passes are remembered by the XForm's text: the same XForm does not start Java
again, a changed one does, and a refusal is never remembered."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forms.compile import FormCompileError, compile_xlsform, validate_with_odk
from tests.conftest import require

LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
# pyxform accepts it, JavaRosa refuses it (an unknown function in a relevance)
REFUSED = """<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml">
  <h:head><h:title>t</h:title><model>
    <instance><data id="t"><a/><b/><meta><instanceID/></meta></data></instance>
    <bind nodeset="/data/a" type="int"/>
    <bind nodeset="/data/b" type="string" relevant="no_such_function( /data/a ) &gt; 1"/>
    <bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"
          xmlns:jr="http://openrosa.org/javarosa"/>
  </model></h:head>
  <h:body><input ref="/data/a"><label>A</label></input>
    <input ref="/data/b"><label>B</label></input></h:body>
</h:html>
"""


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    require(shutil.which("java") is not None, "java not on PATH: ODK Validate not run")
    folder = tmp_path / "odk-validate"
    monkeypatch.setenv("FIELDSURVEY_VALIDATE_CACHE", str(folder))
    return folder


def _without_java(monkeypatch, tmp_path) -> None:
    empty = tmp_path / "no-java"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))


def test_a_pass_is_remembered_and_a_changed_form_validated_again(cache, monkeypatch, tmp_path):
    xform = compile_xlsform((LIBRARY / "hotline_call.xlsx").read_bytes(), validate=False).xform
    validate_with_odk(xform)
    assert len(list(cache.iterdir())) == 1
    _without_java(monkeypatch, tmp_path)
    validate_with_odk(xform)  # remembered: Java is not started (it is not even on PATH now)
    changed = xform.replace("</h:title>", " </h:title>", 1)
    with pytest.raises(OSError, match="Java"):  # Java was asked for, and is not there
        validate_with_odk(changed)
    with pytest.raises(OSError, match="Java"):
        validate_with_odk(xform, remembered=False)


def test_a_refusal_is_never_remembered(cache):
    for _ in range(2):
        with pytest.raises(FormCompileError) as refused:
            validate_with_odk(REFUSED)
        assert refused.value.kind == "odk-validate-failed"
        assert "no_such_function" in str(refused.value.problems)
    assert not cache.exists() or not list(cache.iterdir())


def test_an_empty_setting_turns_the_cache_off(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("FIELDSURVEY_VALIDATE_CACHE", "")
    xform = compile_xlsform((LIBRARY / "hotline_call.xlsx").read_bytes(), validate=False).xform
    validate_with_odk(xform)
    _without_java(monkeypatch, tmp_path)
    with pytest.raises(OSError, match="Java"):
        validate_with_odk(xform)
