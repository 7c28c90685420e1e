"""ODK Validate runs in one long-lived worker (forms/odk_validate.py): many forms, one JVM,
each verdict the one the jar gives that form alone; a dead worker is replaced, a form that
takes too long is accepted with a warning, as pyxform accepts it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forms.compile import FormCompileError, compile_xlsform, validate_with_odk
from forms.odk_validate import SharedValidator, ValidatorGone, shared_validator
from tests.conftest import require
from tests.unit.test_validate_cache import REFUSED

LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
# Central's selectMultiple shape: a select with no items (JavaRosa: "has no choices")
NO_CHOICES = (
    '<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml">'
    '<h:head><h:title>s</h:title><model><instance><data id="s"><q1/></data></instance>'
    '<bind nodeset="/data/q1" type="string"/></model></h:head>'
    '<h:body><select ref="/data/q1"><label>one</label></select></h:body></h:html>'
)


@pytest.fixture(scope="module")
def java() -> None:
    require(shutil.which("java") is not None, "java not on PATH: ODK Validate not run")


def test_one_worker_judges_many_forms_each_on_its_own(java) -> None:
    valid = compile_xlsform((LIBRARY / "hotline_call.xlsx").read_bytes(), validate=False).xform
    validate_with_odk(valid, remembered=False)
    worker = shared_validator().pid
    assert worker is not None
    for _ in range(2):  # refusals and passes interleaved: no verdict leaks into the next
        with pytest.raises(FormCompileError) as refused:
            validate_with_odk(REFUSED, remembered=False)
        assert refused.value.kind == "odk-validate-failed"
        assert "no_such_function" in str(refused.value.problems)
        validate_with_odk(valid, remembered=False)
        with pytest.raises(FormCompileError, match="has no choices"):
            validate_with_odk(NO_CHOICES, remembered=False)
    assert shared_validator().pid == worker  # the same process, no JVM started per form


def test_a_dead_worker_is_replaced_and_a_slow_form_accepted(java) -> None:
    validator = SharedValidator(max_forms=2)
    try:
        assert not validator.check(NO_CHOICES.encode()).valid
        first = validator.pid
        validator._process.kill()
        validator._process.wait()
        verdict = validator.check(NO_CHOICES.encode())  # started again, same verdict
        assert not verdict.valid and "has no choices" in verdict.stderr
        second = validator.pid
        assert second not in (None, first)
        assert validator.check(REFUSED.encode()).valid is False
        assert validator.pid is None  # max_forms reached: stopped, the next check restarts
        assert validator.check(NO_CHOICES.encode()).valid is False
        assert validator.pid not in (None, second)
        validator.timeout = 0
        timed_out = validator.check(REFUSED.encode())
        assert timed_out.valid and timed_out.timed_out and validator.pid is None
    finally:
        validator.close()


def test_a_worker_that_cannot_judge_a_form_refuses_it(java, monkeypatch) -> None:
    """A JVM that dies (here: too little memory to start) gives no verdict: the form is
    refused by ODK Validate's kind (a warning for an XForm), never a server error."""
    broken = SharedValidator(jvm_options=("-Xmx1k",))
    with pytest.raises(ValidatorGone):
        broken.check(NO_CHOICES.encode())
    monkeypatch.setattr("forms.compile.shared_validator", lambda: broken)
    with pytest.raises(FormCompileError) as refused:
        validate_with_odk(NO_CHOICES, remembered=False)
    assert refused.value.kind == "odk-validate-failed"
    assert "without a verdict" in refused.value.problems[0].message
