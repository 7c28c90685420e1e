"""api/i18n.py: which language a request gets, and Babel's formatting in it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from api.i18n import I18n, known_locale, negotiate_locale, parse_accept_language


def test_accept_language_is_ordered_by_quality() -> None:
    assert parse_accept_language("en;q=0.5, ru-RU, tg;q=0.8, *;q=0.1, fr;q=0") == ["ru-RU", "tg", "en"]
    assert parse_accept_language("") == [] and parse_accept_language(None) == []
    assert parse_accept_language("ru;q=abc, en") == ["en"]


def test_negotiation_order() -> None:
    # the user's own choice, then the cookie, then Accept-Language, then English
    assert negotiate_locale(user_choice="tg", cookie="ru", accept_language="en") == "tg"
    assert negotiate_locale(user_choice=None, cookie="ru", accept_language="tg") == "ru"
    assert negotiate_locale(cookie="xx", accept_language="de-DE, tg-TJ;q=0.9, ru;q=0.8") == "tg"
    assert negotiate_locale(accept_language="de, fr") == "en"
    assert negotiate_locale() == "en"
    assert known_locale("RU_ru") == "ru" and known_locale("uz") is None


def test_formatting_follows_the_locale_and_dushanbe_time() -> None:
    moment = datetime(2026, 3, 5, 22, 30, tzinfo=UTC)  # 03:30 on 6 March in Dushanbe (UTC+5)
    en, ru, tg = (I18n.for_locale(code) for code in ("en", "ru", "tg"))
    assert en.date(moment) == "Mar 6, 2026"
    assert "6 мар" in ru.date(moment) and "2026" in ru.date(moment)
    assert ru.time(moment) == "03:30"
    assert en.number(1234567) == "1,234,567"
    assert ru.number(1234567).replace("\xa0", " ") == "1 234 567"
    assert ru.month_name(3) == "март" and en.month_name(3) == "March"
    assert tg.month_name(3).lower() == "март"
    assert en.date(date(2026, 1, 31), "long") == "January 31, 2026"
    elsewhere = I18n.for_locale("en", "Europe/Moscow")
    assert elsewhere.time(moment, "HH:mm") == "01:30"
    assert I18n.for_locale("en", "Not/AZone").time_zone.key == "Asia/Dushanbe"


def test_translation_and_fallback() -> None:
    assert I18n.for_locale("ru").gettext("Log in") == "Войти"
    assert I18n.for_locale("tg").gettext("Log in") == "Ворид шудан"
    assert I18n.for_locale("en").gettext("Log in") == "Log in"
    assert I18n.for_locale("zz").locale == "en"
    assert I18n.for_locale("ru").gettext("QR code for %(name)s", name="A") == "QR-код для A"


def test_service_problem_details_on_pages() -> None:
    """A service's %(name)s detail comes out in the page's language; a detail the catalogue
    lacks gives way to the translated title on a Russian or Tajik page (never English)."""
    from api.i18n import N_, problem_text
    from api.problems import Problem

    long = Problem("request-invalid", N_("A displayName has at most %(n)s characters."),
                   params={"n": 200})
    assert problem_text(long, I18n.for_locale("en")) == long.detail
    assert long.detail == "A displayName has at most 200 characters."
    assert problem_text(long, I18n.for_locale("ru")) == "Имя — не более 200 символов."
    unknown = Problem("request-invalid", "Something nobody translated.")
    assert problem_text(unknown, I18n.for_locale("en")) == "Something nobody translated."
    ru = problem_text(unknown, I18n.for_locale("ru"))
    assert ru == I18n.for_locale("ru").gettext(unknown.title) and ru != unknown.title
