"""Languages: which one a request gets, its translator, and Babel's formatting for it.

The locale of a request, in order:
1. a signed-in user's own choice (users.locale, set with the switcher on every page);
2. the switcher's choice before login (the `fieldsurvey_lang` cookie);
3. the Accept-Language header (browsers, ODK Collect: the phone's language);
4. English.

Catalogues: api/pages/locale/{en,ru,tg}/LC_MESSAGES/messages.po (one domain, `messages`, for
pages and API messages), extracted with `make messages` (pybabel, api/pages/babel.cfg) and
compiled to .mo by `make install`/`run`/`test`. A catalogue whose .mo is missing or older than
its .po is compiled in memory when loaded, so a fresh edit is never silently ignored.

Times are shown in Asia/Dushanbe unless the user chose another zone (users.time_zone).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from forms.messages import N_  # noqa: F401 - api.i18n.N_ is imported by other modules

log = logging.getLogger("fieldsurvey.i18n")

LOCALES = ("en", "ru", "tg")
DEFAULT_LOCALE = "en"
# How each language names itself, for the switcher.
LANGUAGE_NAMES = {"en": "English", "ru": "Русский", "tg": "Тоҷикӣ"}
LOCALE_COOKIE = "fieldsurvey_lang"
DEFAULT_TIME_ZONE = "Asia/Dushanbe"
LOCALE_DIR = Path(__file__).resolve().parent / "pages" / "locale"
DOMAIN = "messages"




def known_locale(value: str | None) -> str | None:
    """`value` when it is one of LOCALES (case and region ignored: 'ru-RU' -> 'ru'), else None."""
    if not value:
        return None
    base = value.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else None


def parse_accept_language(header: str | None) -> list[str]:
    """The language tags of an Accept-Language header, best first (q=0 dropped)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            weighted.append((-q, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate_locale(
    *, user_choice: str | None = None, cookie: str | None = None, accept_language: str | None = None
) -> str:
    """The locale of a request: the user's choice, the cookie's, Accept-Language, else English."""
    for explicit in (user_choice, cookie):
        locale = known_locale(explicit)
        if locale:
            return locale
    for tag in parse_accept_language(accept_language):
        locale = known_locale(tag)
        if locale:
            return locale
    return DEFAULT_LOCALE


def locale_from_headers(headers: Mapping[str, str], cookies: Mapping[str, str] | None = None) -> str:
    """The locale of a request that has no signed-in user to ask (REST, OpenRosa, error pages)."""
    return negotiate_locale(
        cookie=(cookies or {}).get(LOCALE_COOKIE), accept_language=headers.get("accept-language")
    )


def _compiled(po_path: Path) -> Translations:
    mo_path = po_path.with_suffix(".mo")
    if mo_path.is_file() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
        with mo_path.open("rb") as handle:
            return Translations(handle, domain=DOMAIN)
    log.warning("%s is missing or older than its .po: compiling it in memory (run make install)",
                mo_path)
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue of a locale (English falls back to the source strings)."""
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale not in LOCALES or not po_path.is_file():
        return NullTranslations()
    return _compiled(po_path)


def zone(name: str | None) -> ZoneInfo:
    """A time zone by IANA name; Asia/Dushanbe when none or an unknown one is given."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(DEFAULT_TIME_ZONE)


@dataclass(frozen=True)
class I18n:
    """One request's language: translation and formatting. Build it with `I18n.for_locale`."""

    locale: str
    time_zone: ZoneInfo
    catalogue: NullTranslations

    @classmethod
    def for_locale(cls, locale: str | None, time_zone: str | None = None) -> I18n:
        locale = known_locale(locale) or DEFAULT_LOCALE
        return cls(locale=locale, time_zone=zone(time_zone), catalogue=translations(locale))

    # --- translation -------------------------------------------------------------------------

    def gettext(self, message: str, **variables) -> str:
        text = self.catalogue.gettext(message)
        return text % variables if variables else text

    _ = gettext

    def ngettext(self, singular: str, plural: str, n: int, **variables) -> str:
        text = self.catalogue.ngettext(singular, plural, n)
        return text % {"num": n, **variables}

    def pgettext(self, context: str, message: str, **variables) -> str:
        text = self.catalogue.pgettext(context, message)
        return text % variables if variables else text

    # --- formatting --------------------------------------------------------------------------

    @property
    def babel_locale(self) -> Locale:
        return Locale.parse(self.locale)

    def local(self, value: datetime) -> datetime:
        """`value` in the user's time zone (a naive value is taken as UTC)."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo("UTC"))
        return value.astimezone(self.time_zone)

    def datetime(self, value: datetime | None, format: str = "standard") -> str:
        """A moment in the user's zone. "standard", the one every page uses: the locale's medium
        date and short time joined as the locale joins them ('8 дек. 2026 г., 02:45',
        '08 Дек 2026 02:45'), never the short date, which reads 08/12/26 in Tajik."""
        if value is None:
            return ""
        local = self.local(value)
        if format != "standard":
            return babel_dates.format_datetime(local, format, tzinfo=self.time_zone,
                                               locale=self.locale)
        joined = babel_dates.get_datetime_format("medium", locale=self.locale)
        return joined.replace("{1}", self.date(local)).replace("{0}", self.time(local))

    def date(self, value: date | datetime | None, format: str = "medium") -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = self.local(value).date()
        return babel_dates.format_date(value, format, locale=self.locale)

    def time(self, value: datetime | None, format: str = "short") -> str:
        if value is None:
            return ""
        return babel_dates.format_time(self.local(value), format, tzinfo=self.time_zone,
                                       locale=self.locale)

    def skeleton(self, value: date | datetime, skeleton: str) -> str:
        """A date by CLDR skeleton ('MMMd': '5 Mar' / '5 мар.'), for compact table headers."""
        if isinstance(value, datetime):
            value = self.local(value)
        return babel_dates.format_skeleton(skeleton, value, locale=self.locale)

    def number(self, value: int | float | None) -> str:
        if value is None or isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return "" if value is None else str(value)
        return babel_numbers.format_decimal(value, locale=self.locale)

    def percent(self, value: float | None) -> str:
        if value is None:
            return ""
        return babel_numbers.format_percent(value, locale=self.locale)

    def month_name(self, month: int, width: str = "wide") -> str:
        """A month's name as it stands alone ('March' / 'март' / 'Март')."""
        return babel_dates.get_month_names(width, context="stand-alone", locale=self.locale)[month]

    def period(self, label: str | None) -> str:
        """A period label of the summaries ('2026-Q4', '2026-10', '2026') as the locale writes
        it ('Q4 2026' / '4-й кв. 2026 г.', 'October 2026' / 'октябрь 2026 г.'); anything else
        as it is."""
        if not label:
            return ""
        year, _, part = label.partition("-")
        try:
            if not part:
                return babel_dates.format_skeleton("y", date(int(year), 1, 1), locale=self.locale)
            if part.startswith("Q"):
                first = date(int(year), 3 * int(part[1:]) - 2, 1)
                return babel_dates.format_skeleton("yQQQ", first, locale=self.locale)
            return babel_dates.format_skeleton("yMMMM", date(int(year), int(part), 1),
                                               locale=self.locale)
        except ValueError:
            return label

    def language_name(self, locale: str) -> str:
        return LANGUAGE_NAMES.get(locale, locale)


def localized_problem(problem, i18n: I18n) -> tuple[str, str, str]:
    """(title, detail, message) of a Problem in the language of `i18n`. A detail without a
    translation stays as it is; `message` (what ODK Collect and Central's clients show) is then
    the translated title, so that a phone set to Russian or Tajik never shows English."""
    title = i18n.catalogue.gettext(problem.title)
    if i18n.locale == DEFAULT_LOCALE:
        return problem.title, problem.detail, problem.detail
    template = getattr(problem, "detail_template", None) or problem.detail
    translated = i18n.catalogue.gettext(template)
    if translated == template and template != problem.title:  # not in the catalogue
        return title, problem.detail, title
    detail = problem_text(problem, i18n)
    return title, detail, detail


def localized_problem_json(problem, i18n: I18n, instance: str | None = None) -> dict:
    """An api.problems.Problem's problem+json body with its title, detail and message in the
    language of `i18n` (see localized_problem)."""
    body = problem.to_json(instance=instance)
    body["title"], body["detail"], body["message"] = localized_problem(problem, i18n)
    return body


def problem_text(problem, i18n: I18n) -> str:
    """The detail of an api.problems.Problem in the language of `i18n`, as a page shows it.
    A detail the catalogue lacks is English: a Russian or Tajik page shows the translated
    title instead (never English on those pages)."""
    template = getattr(problem, "detail_template", None) or problem.detail
    params = getattr(problem, "params", None) or {}
    text = i18n.catalogue.gettext(template)
    if text == template and i18n.locale != DEFAULT_LOCALE and template != problem.title:
        return i18n.catalogue.gettext(problem.title)
    if params:
        try:
            return text % params
        except (KeyError, TypeError, ValueError):
            return problem.detail
    return text
