"""Two-factor login's pure parts: whom FIELDSURVEY_REQUIRE_2FA concerns, which time step a code
belongs to (with a frozen clock, against RFC 6238's own test vector), codes as people type them,
and the recovery codes."""

from __future__ import annotations

import pyotp
import pytest

from api.auth import Actor, second_factor_required
from api.services.two_factor import (
    matching_step,
    new_recovery_codes,
    normal_code,
    recovery_code_hash,
)
from api.settings import Settings

ADMIN = Actor(1, "user", "a", is_admin=True)
MANAGER = Actor(2, "user", "m", roles={5: frozenset({"researcher"}), 7: frozenset({"manager"})})
RESEARCHER = Actor(3, "user", "r", roles={5: frozenset({"researcher"})})
APP_USER = Actor(4, "field_key", "phone", field_key_project=5)


@pytest.mark.parametrize(("policy", "required"), [
    ("off", set()),
    ("admins", {"a"}),
    ("managers", {"a", "m"}),
    ("all", {"a", "m", "r"}),
])
def test_whom_the_setting_concerns(policy: str, required: set[str]) -> None:
    concerned = {a.display_name for a in (ADMIN, MANAGER, RESEARCHER, APP_USER)
                 if second_factor_required(a, policy)}
    assert concerned == required


def test_the_setting_takes_only_its_four_values() -> None:
    assert Settings.from_env({}).require_2fa == "off"
    assert Settings.from_env({"FIELDSURVEY_REQUIRE_2FA": "managers"}).require_2fa == "managers"
    with pytest.raises(ValueError, match="FIELDSURVEY_REQUIRE_2FA must be one of"):
        Settings.from_env({"FIELDSURVEY_REQUIRE_2FA": "yes"})


# RFC 6238 appendix B: the ASCII secret "12345678901234567890" (SHA-1), at 59 s: 94287082
# (8 digits); its last six digits are the 6-digit code.
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_a_code_belongs_to_its_time_step_within_one_step_of_drift() -> None:
    assert pyotp.TOTP(RFC_SECRET).at(59) == "287082"
    assert matching_step(RFC_SECRET, "287082", now=59) == 1
    assert matching_step(RFC_SECRET, "287082", now=89) == 1  # the phone a step behind
    assert matching_step(RFC_SECRET, "287082", now=31) == 1
    assert matching_step(RFC_SECRET, "287082", now=29) == 1  # a step ahead
    assert matching_step(RFC_SECRET, "287082", now=90) is None  # two steps: too old
    assert matching_step(RFC_SECRET, "287083", now=59) is None


def test_codes_as_people_type_them() -> None:
    assert normal_code(" 287 082 ") == "287082"
    assert normal_code("２８７０８２") == "287082"  # full-width digits of a phone keyboard
    assert normal_code("ABCD-EFGH ijkl-mnop") == "abcdefghijklmnop"


def test_recovery_codes_are_ten_distinct_80_bit_codes_hashed_per_user() -> None:
    codes = new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(len(normal_code(c)) == 16 and set(normal_code(c)) <= set("abcdefghijklmnopqrstuvwxyz234567")
               for c in codes)
    assert recovery_code_hash(1, codes[0]) == recovery_code_hash(1, codes[0].upper().replace("-", ""))
    assert recovery_code_hash(1, codes[0]) != recovery_code_hash(2, codes[0])
