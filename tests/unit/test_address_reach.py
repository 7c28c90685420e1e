"""api/http.py only_this_machine: which server addresses no phone can reach (issue 28)."""

import pytest

from api.http import only_this_machine


@pytest.mark.parametrize(("server", "local"), [
    ("http://127.0.0.1:8000", True),
    ("http://localhost:8000", True),
    ("http://[::1]:8000", True),
    ("http://0.0.0.0", True),
    ("https://survey.example.org", False),
    ("http://192.168.1.20:8000", False),  # the office network: phones on it reach it
    ("https://10.0.0.5", False),
])
def test_only_this_machine(server, local) -> None:
    assert only_this_machine(server) is local
