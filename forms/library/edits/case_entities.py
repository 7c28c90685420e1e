"""Make support-centre cases ODK Entities (issue 13), reproducibly, with openpyxl:

- `support_center_intake.xlsx` registers a `cases` entity: the case code is generated on the
  phone (centre letters, year, six random hex digits; never a name), and the centre, opened
  date, sex, age band, region, referral source, services needed, reintegration stage and
  status are saved to it. The follow-up repeat and the status question leave the intake: later
  visits are `support_center_followup` submissions, from any phone.
- `support_center_followup.xlsx` (new) picks the case from `cases.csv` (offline), records the
  services given this visit, the reintegration stage and the next contact date, and updates the
  case.

Run from the repository root:  .venv/bin/python forms/library/edits/case_entities.py
It is idempotent: the intake is rebuilt from its rows each time, and the follow-up form is
written whole from the tables below; run `sensitive_columns.py` after it (it marks the
follow-up's notes and bumps its version).
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill

LIBRARY = Path(__file__).resolve().parents[1]
INTAKE = LIBRARY / "support_center_intake.xlsx"
FOLLOWUP = LIBRARY / "support_center_followup.xlsx"
VERSION = "2026120101"
LANGS = ("English (en)", "Russian (ru)", "Tajik (tg)")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")

NO_PII_HINT = (
    "Do not write names, phone numbers or addresses.",
    "Не записывайте имена, номера телефонов и адреса.",
    "Ном, рақами телефон ва суроғаро нанависед.",
)

# The reintegration stages (forms/README.md gives the reasons for each).
STAGES = [
    ("in_shelter", "In shelter", "В приюте", "Дар паноҳгоҳ"),
    ("receiving_services", "Receiving services", "Получает услуги", "Хизмат мегирад"),
    ("vocational_training", "Vocational training", "Профессиональное обучение", "Омӯзиши касбӣ"),
    ("employed_or_studying", "Employed or studying", "Работает или учится", "Кор мекунад ё мехонад"),
    ("returned_to_family", "Returned to family", "Вернулся(ась) в семью", "Ба оила баргашт"),
    ("case_closed", "Case closed", "Случай закрыт", "Парванда баста шуд"),
]
CLOSE_REASONS = [
    ("reintegrated", "Reintegrated", "Реинтегрирован(а)", "Азнавҳамгиро шуд"),
    ("referred", "Referred elsewhere", "Направлен(а) в другую организацию", "Ба ташкилоти дигар фиристода шуд"),
    ("no_contact", "Contact lost", "Связь потеряна", "Тамос қатъ шуд"),
    ("declined", "Client declined services", "Клиент отказался от услуг", "Мизоҷ аз хизматҳо даст кашид"),
]
AGE_BANDS = "if(${client_age} < 18, 'under_18', if(${client_age} < 25, '18_24', if(${client_age} < 35, '25_34', if(${client_age} < 50, '35_49', '50_plus'))))"
CENTRE_LETTERS = "if(${center} = 'dushanbe', 'DU', if(${center} = 'khujand', 'KH', 'OT'))"


def _style(sheet) -> None:
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
    sheet.freeze_panes = "A2"


def _rows(sheet) -> tuple[list[str], list[dict]]:
    header = [c.value for c in sheet[1]]
    out = []
    for values in sheet.iter_rows(min_row=2, values_only=True):
        if any(v is not None for v in values):
            out.append({h: v for h, v in zip(header, values, strict=False) if h})
    return header, out


def _write(sheet, header: list[str], rows: list[dict]) -> None:
    sheet.delete_rows(1, sheet.max_row)
    sheet.append(header)
    for row in rows:
        sheet.append([row.get(h) for h in header])
    _style(sheet)


def _labels(prefix: str, texts) -> dict:
    return {f"{prefix}::{lang}": text for lang, text in zip(LANGS, texts, strict=True)}


REGION_ROWS = [
    ("TJ-DU", "Dushanbe", "Душанбе", "Душанбе"),
    ("TJ-SU", "Sughd", "Согдийская область", "Вилояти Суғд"),
    ("TJ-KT", "Khatlon", "Хатлонская область", "Вилояти Хатлон"),
    ("TJ-GB", "Gorno-Badakhshan", "Горно-Бадахшанская автономная область",
     "Вилояти Мухтори Кӯҳистони Бадахшон"),
    ("TJ-RA", "Districts of Republican Subordination", "Районы республиканского подчинения",
     "Ноҳияҳои тобеи ҷумҳурӣ"),
]


def edit_intake() -> None:
    wb = load_workbook(INTAKE)
    survey = wb["survey"]
    header, rows = _rows(survey)
    if "save_to" not in header:
        header.append("save_to")
    # drop what moves to the follow-up form (idempotent: the names are gone the second time)
    rows = [r for r in rows if r.get("name") not in (
        "follow_up", "follow_up_date", "follow_up_type", "follow_up_service", "follow_up_notes",
        "follow_up_count", "case_status")]
    out = []
    for r in rows:
        name = r.get("name")
        if name in ("case_suffix", "case_code", "case_code_note", "region", "age_band",
                    "stage", "status"):
            continue  # rebuilt below
        out.append(r)
        if name == "center" and r["type"] == "select_one center":
            r["save_to"] = "centre"
        if name == "center_other":
            out += [
                {"type": "calculate", "name": "case_suffix",
                 "calculation": "once(translate(substr(uuid(), 0, 6), 'abcdef', 'ABCDEF'))"},
                {"type": "calculate", "name": "case_code", "save_to": "case_code",
                 "calculation": f"concat({CENTRE_LETTERS}, '-', format-date(${{intake_date}}, '%Y'), '-', ${{case_suffix}})"},
            ]
        if name == "intake_date":
            r["save_to"] = "opened"
            out.append({
                "type": "note", "name": "case_code_note",
                **_labels("label", (
                    "Case code: **${case_code}**. Write it on the client's card; follow-up "
                    "visits find the case by this code.",
                    "Код случая: **${case_code}**. Запишите его на карточке клиента; по этому "
                    "коду случай находят при последующих визитах.",
                    "Рамзи парванда: **${case_code}**. Онро дар корти мизоҷ нависед; дар "
                    "боздидҳои минбаъда парвандаро бо ин рамз меёбанд.",
                )),
            })
        if name == "referral_source":
            r["save_to"] = "referral_source"
        if name == "client_sex":
            r["save_to"] = "sex"
        if name == "client_age":
            out.append({"type": "calculate", "name": "age_band", "save_to": "age_band",
                        "calculation": AGE_BANDS})
            out.append({
                "type": "select_one region", "name": "region", "required": "yes",
                "save_to": "region",
                **_labels("label", ("Region the client comes from", "Регион, откуда клиент",
                                    "Минтақае, ки мизоҷ аз он ҷост")),
            })
        if name == "services":
            r["save_to"] = "services_needed"
    out += [
        {"type": "calculate", "name": "stage", "save_to": "stage",
         "calculation": "if(selected(${services}, 'shelter'), 'in_shelter', 'receiving_services')"},
        {"type": "calculate", "name": "status", "save_to": "status", "calculation": "'open'"},
    ]
    _write(survey, header, out)

    choices = wb["choices"]
    c_header, c_rows = _rows(choices)
    c_rows = [r for r in c_rows if r["list_name"] not in ("region", "contact_type", "case_status")]
    c_rows += [{"list_name": "region", "name": code, **_labels("label", texts)}
               for code, *texts in REGION_ROWS]
    _write(choices, c_header, c_rows)

    settings = wb["settings"]
    s_header, s_rows = _rows(settings)
    s_rows[0]["version"] = VERSION
    _write(settings, s_header, s_rows)

    if "entities" in wb.sheetnames:
        del wb["entities"]
    entities = wb.create_sheet("entities")
    _write(entities, ["list_name", "label"], [{"list_name": "cases", "label": "${case_code}"}])
    wb.save(INTAKE)


def _service_choices() -> list[dict]:
    wb = load_workbook(INTAKE)
    _, rows = _rows(wb["choices"])
    return [r for r in rows if r["list_name"] in ("service", "center")]


def write_followup() -> None:
    survey_header = ["type", "name", *[f"label::{lang}" for lang in LANGS],
                     *[f"hint::{lang}" for lang in LANGS], "required", "relevant", "constraint",
                     *[f"constraint_message::{lang}" for lang in LANGS], "appearance",
                     "calculation", "default", "save_to"]
    case = "instance('cases')/root/item[name=${case}]"
    survey = [
        {"type": "start", "name": "start"},
        {"type": "end", "name": "end"},
        {"type": "today", "name": "today"},
        {"type": "deviceid", "name": "deviceid"},
        {"type": "note", "name": "privacy_note", **_labels("label", (
            "Cases are identified by their case code only. Never record a name, phone number or "
            "address.",
            "Случаи идентифицируются только по коду случая. Никогда не записывайте имя, номер "
            "телефона или адрес.",
            "Парвандаҳо танҳо бо рамзи парванда муайян карда мешаванд. Ҳеҷ гоҳ ном, рақами "
            "телефон ё суроғаро сабт накунед."))},
        {"type": "select_one_from_file cases.csv", "name": "case", "required": "yes",
         "appearance": "autocomplete", **_labels("label", (
             "Case code", "Код случая", "Рамзи парванда")),
         **_labels("hint", ("Type part of the code on the client's card.",
                            "Введите часть кода с карточки клиента.",
                            "Қисми рамзро аз корти мизоҷ ворид кунед."))},
        {"type": "calculate", "name": "case_code", "calculation": f"{case}/label"},
        {"type": "calculate", "name": "case_opened", "calculation": f"{case}/opened"},
        {"type": "calculate", "name": "previous_stage", "calculation": f"{case}/stage"},
        {"type": "calculate", "name": "visits",  "save_to": "visits",
         "calculation": f"coalesce({case}/visits, 0) + 1"},
        {"type": "note", "name": "case_note", "relevant": "${case} != ''", **_labels("label", (
            "Case ${case_code}, opened ${case_opened}. Visit number ${visits}.",
            "Случай ${case_code}, открыт ${case_opened}. Визит номер ${visits}.",
            "Парвандаи ${case_code}, кушода шуд ${case_opened}. Боздиди рақами ${visits}."))},
        {"type": "date", "name": "visit_date", "required": "yes", "default": "today()",
         "save_to": "last_visit",
         "constraint": ". <= today() and (${case_opened} = '' or . >= date(${case_opened}))",
         **_labels("label", ("Date of this visit", "Дата этого визита", "Санаи ин боздид")),
         **_labels("constraint_message", (
             "The date must be between the case's opening and today.",
             "Дата должна быть между открытием случая и сегодняшним днём.",
             "Сана бояд дар байни кушодани парванда ва имрӯз бошад."))},
        {"type": "select_one contact_type", "name": "contact_type", "required": "yes",
         **_labels("label", ("Type of contact", "Вид контакта", "Навъи тамос"))},
        {"type": "select_multiple service", "name": "services_given", "required": "yes",
         "save_to": "last_services",
         **_labels("label", ("Services given this visit", "Услуги, оказанные при этом визите",
                             "Хизматҳое, ки дар ин боздид расонида шуданд"))},
        {"type": "text", "name": "services_given_other", "required": "yes",
         "relevant": "selected(${services_given}, 'other')",
         **_labels("label", ("Please specify", "Уточните, пожалуйста", "Лутфан, муайян кунед")),
         **_labels("hint", NO_PII_HINT)},
        {"type": "select_one stage", "name": "stage", "required": "yes", "save_to": "stage",
         **_labels("label", ("Reintegration stage now", "Текущий этап реинтеграции",
                             "Марҳилаи ҳозираи азнавҳамгироӣ"))},
        {"type": "select_one close_reason", "name": "close_reason", "required": "yes",
         "relevant": "${stage} = 'case_closed'", "save_to": "close_reason",
         **_labels("label", ("Why is the case closed?", "Почему случай закрыт?",
                             "Чаро парванда баста шуд?"))},
        {"type": "calculate", "name": "status", "save_to": "status",
         "calculation": "if(${stage} = 'case_closed', 'closed', 'open')"},
        {"type": "date", "name": "next_contact", "required": "yes", "save_to": "next_contact",
         "relevant": "${stage} != 'case_closed'", "constraint": ". >= ${visit_date}",
         **_labels("label", ("Next contact date", "Дата следующего контакта",
                             "Санаи тамоси навбатӣ")),
         **_labels("constraint_message", (
             "The next contact cannot be before this visit.",
             "Следующий контакт не может быть раньше этого визита.",
             "Тамоси навбатӣ наметавонад пеш аз ин боздид бошад."))},
        {"type": "text", "name": "visit_notes", "appearance": "multiline",
         **_labels("label", ("Notes", "Заметки", "Қайдҳо")), **_labels("hint", NO_PII_HINT)},
    ]
    choices_header = ["list_name", "name", *[f"label::{lang}" for lang in LANGS]]
    contact = [
        ("in_person", "In person at the centre", "Лично в центре", "Шахсан дар марказ"),
        ("home_visit", "Home visit", "Посещение на дому", "Боздид аз хона"),
        ("call", "Call", "Звонок", "Занг"),
        ("online", "Online or messenger", "Онлайн или мессенджер", "Онлайн ё паёмрасон"),
        ("accompanied", "Accompanied to a service", "Сопровождение в службу",
         "Ҳамроҳӣ ба хадамот"),
    ]
    choices = [r for r in _service_choices() if r["list_name"] == "service"]
    for list_name, items in (("contact_type", contact), ("stage", STAGES),
                             ("close_reason", CLOSE_REASONS)):
        choices += [{"list_name": list_name, "name": n, **_labels("label", t)}
                    for n, *t in items]
    wb = Workbook()
    wb.remove(wb.active)
    _write(wb.create_sheet("survey"), survey_header, survey)
    _write(wb.create_sheet("choices"), choices_header, choices)
    _write(wb.create_sheet("settings"),
           ["form_title", "form_id", "version", "default_language", "instance_name"],
           [{"form_title": "Support centre follow-up visit", "form_id": "support_center_followup",
             "version": VERSION, "default_language": "English (en)",
             "instance_name": "concat(${case_code}, ' ', ${visit_date})"}])
    _write(wb.create_sheet("entities"), ["list_name", "entity_id"],
           [{"list_name": "cases", "entity_id": "${case}"}])
    wb.save(FOLLOWUP)


if __name__ == "__main__":
    edit_intake()
    write_followup()
    print(f"wrote {INTAKE.name} and {FOLLOWUP.name} (version {VERSION})")
