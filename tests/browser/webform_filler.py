"""Fills an ODK Web Forms form in a real browser as a person would: finds each question by its
label in the language on screen (from the form's own translations), clicks the choices, types
text and numbers, picks dates in the calendar, adds repeat entries, and presses Send.

A plan is an ordered list of (field name, value): a string for one choice, text, a number or
a date (YYYY-MM-DD), a list of choice names for select_multiple, and for a repeat a list of
plans, one per entry.
"""

from __future__ import annotations

import re
import time
from datetime import date

from forms.schema import Field, FormSchema

# The question container (Web Forms' `.question-container`) whose label reads `label`: the
# first shown after the question answered last (`afterId`), as a person reads on down the
# form; several questions may share a label ("Please specify").
_FIND_CONTAINER = """
([label, scopeId, afterId]) => {
  const norm = (s) => s.replace(/\\s+/g, ' ').trim();
  const scope = scopeId ? document.getElementById(scopeId) : document;
  const after = afterId ? document.getElementById(afterId) : null;
  const wanted = norm(label);
  for (const c of scope.querySelectorAll('.question-container')) {
    if (c.offsetParent === null) continue;  // hidden (not relevant)
    if (after && !(after.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING)) continue;
    const l = c.querySelector('.control-text label, .control-text .label, .control-text');
    if (!l) continue;
    const text = norm(l.innerText).replace(/^\\*\\s*/, '');
    if (text === wanted || text.startsWith(wanted)) return c.id;
  }
  return null;
}
"""
_OUTPUT = re.compile(r"\$\{[^}]+\}|<output[^>]*/>")


def field_by_name(schema: FormSchema, name: str) -> Field:
    for field in schema.walk():
        if field.name == name:
            return field
    raise KeyError(name)


def shown_label(field: Field, language: str) -> str:
    """The label as the page shows it, up to the first computed part (an <output>)."""
    text = field.labels.get(language) or next(iter(field.labels.values()), "")
    text = _OUTPUT.split(text)[0]
    return " ".join(text.replace("*", " ").split())


class WebFormFiller:
    def __init__(self, page, schema: FormSchema, language: str, today: date | None = None,
                 timeout: float = 15_000):
        self.page = page
        self.timeout = timeout
        self.last: str | None = None  # the id of the question answered last
        self.seconds: dict[str, float] = {}  # how long each answer took
        self.schema = schema
        self.language = language
        self.today = today or date.today()

    async def container(self, field: Field, scope: str | None = None):
        label = shown_label(field, self.language)
        try:  # relevance is recomputed after each answer: wait for the question to show
            found = await self.page.wait_for_function(
                _FIND_CONTAINER, arg=[label, scope, self.last], timeout=self.timeout)
        except Exception as error:
            raise AssertionError(f"question {field.name!r} ({label!r}) is not on the page") \
                from error
        self.last = await found.json_value()
        return self.page.locator(f'[id="{self.last}"]')

    async def fill(self, plan: list[tuple[str, object]], scope: str | None = None) -> None:
        for name, value in plan:
            field = field_by_name(self.schema, name)
            if field.kind == "repeat":
                await self.fill_repeat(field, value)  # type: ignore[arg-type]
                continue
            started = time.monotonic()
            box = await self.container(field, scope)
            await self.answer(field, box, value)
            self.seconds[name] = self.seconds.get(name, 0) + time.monotonic() - started

    async def answer(self, field: Field, box, value) -> None:
        kind = field.type
        if kind in ("select1", "select_one"):
            await self.choose(box, str(value))
        elif kind in ("select", "select_multiple"):
            for choice in value:  # type: ignore[union-attr]
                await self.choose(box, choice)
        elif kind in ("int", "integer", "decimal"):
            number = box.locator("input").first
            await number.click()
            await number.press_sequentially(str(value))
            await number.press("Tab")
        elif kind == "date":
            await self.pick_date(box, date.fromisoformat(str(value)))
        else:  # text, multiline text
            text = box.locator("textarea, input[type=text]").first
            await text.click()
            await text.press_sequentially(str(value))
            await text.press("Tab")

    async def choose(self, box, choice: str) -> None:
        selector = f'input[value="{choice}"]'
        if await box.locator(selector).count() == 0:
            raise AssertionError(f"no choice {choice!r} in {await box.get_attribute('id')}")
        await box.locator("label.value-option", has=self.page.locator(selector)).click()

    async def pick_date(self, box, wanted: date) -> None:
        await box.locator("input").first.click()
        panel = self.page.locator(".p-datepicker-panel").last
        await panel.wait_for()
        months_back = (self.today.year - wanted.year) * 12 + self.today.month - wanted.month
        for _ in range(months_back):
            await panel.locator(".p-datepicker-prev-button").click()
        day = panel.locator(
            "td.p-datepicker-day-cell:not(.p-datepicker-other-month) span.p-datepicker-day",
            has_text=re.compile(rf"^\s*{wanted.day}\s*$"),
        )
        await day.first.click()
        await self.page.keyboard.press("Escape")

    async def fill_repeat(self, field: Field, entries: list[list[tuple[str, object]]]) -> None:
        for index, entry in enumerate(entries):
            # Web Forms shows a repeat's first entry at once; "Add" makes the next one
            instances = self.page.locator(".p-panel.is-repeat")
            if await instances.count() <= index:
                await self.page.locator("button.button-add-instance").last.click()
                await instances.nth(index).wait_for()
            scope_id = await instances.nth(index).evaluate(
                "(el) => el.id || (el.id = 'repeat-' + Math.random().toString(36).slice(2))"
            )
            await self.fill(entry, scope=scope_id)

    async def send(self) -> None:
        await self.page.locator(".odk-form .footer button").last.click()
