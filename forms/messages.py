"""Texts a reader sees, marked for the catalogues (api/pages/locale; `make messages`), and the
refusal that carries one: pure, so that every package may use them (house style: `forms`
imports nothing of ours)."""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Marks a string for extraction without translating it (module-level constants, refusal
    templates); it is translated where it is shown (`api/i18n.py`, in the reader's language)."""
    return message


class OptionError(Exception):
    """An option the form cannot serve. `template` is a catalogue text (N_) with %(name)s
    placeholders from `params`, so that the API can say it in the reader's language; the
    English message is template % params."""

    def __init__(self, template: str, params: dict[str, Any] | None = None):
        self.template = template
        self.params = params or {}
        super().__init__(template % self.params if self.params else template)
