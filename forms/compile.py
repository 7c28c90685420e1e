"""XLSForm -> XForm with pyxform, with warnings and ODK Validate.

Pure of the rest of the project: it takes bytes and returns a `CompiledForm` or raises
`FormCompileError`. The async wrappers run the (CPU- and subprocess-bound) work in a thread
so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote
from xml.etree.ElementTree import Element

import xlrd  # pyxform's reader of .xls
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from markupsafe import escape
from pyxform.errors import PyXFormError
from pyxform.validators.error_cleaner import ErrorCleaner
from pyxform.validators.odk_validate import ODK_VALIDATE_PATH, check_java_available
from pyxform.xls2xform import convert, get_xlsform

from forms.odk_validate import ValidatorGone, shared_validator
from forms.schema import SENSITIVE_NS
from forms.submission import file_name_problem, local_attribute

XFORMS_NS = "http://www.w3.org/2002/xforms"
_ROW_RE = re.compile(r"\[row\s*:\s*(\d+)\]", re.IGNORECASE)
# A file a form names, as Central reads it (lib/data/schema.js): directly under one of these
# jr:// roots; `jr://file/path/to/x.csv` or `jr://files/x.csv` name none.
_MEDIA_PATH = re.compile(r"^jr://(?:images|audio|video|file|file-csv)/([^/]+)$")
_SHEET_RE = re.compile(r"(?:On|on) the '([A-Za-z_ ]+)' sheet|sheet[: ]+'([A-Za-z_ ]+)'")


@dataclass(frozen=True)
class CompileProblem:
    message: str
    sheet: str | None = None
    row: int | None = None

    @classmethod
    def from_message(cls, message: str) -> CompileProblem:
        row_match = _ROW_RE.search(message)
        sheet_match = _SHEET_RE.search(message)
        sheet = None
        if sheet_match:
            sheet = (sheet_match.group(1) or sheet_match.group(2)).strip()
        return cls(
            message=message.strip(),
            sheet=sheet,
            row=int(row_match.group(1)) if row_match else None,
        )


class FormCompileError(Exception):
    """The form cannot be accepted. `kind` is one of: xlsform-invalid, xlsform-has-warnings,
    xform-invalid, xform-has-warnings (ODK Validate's complaints about an uploaded XForm,
    accepted with ignore_warnings as ODK Central accepts the XForm), form-id-missing,
    odk-validate-failed, form-encrypted-unsupported."""

    def __init__(self, kind: str, problems: list[CompileProblem]):
        self.kind = kind
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


@dataclass(frozen=True)
class CompiledForm:
    xml_form_id: str
    version: str
    title: str
    xform: str
    md5: str
    warnings: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)

    @property
    def xform_bytes(self) -> bytes:
        return self.xform.encode("utf-8")


def java_available() -> bool:
    return shutil.which("java") is not None


def _find_model(root: Element) -> Element | None:
    head = root.find("{http://www.w3.org/1999/xhtml}head")
    if head is None:
        return None
    return head.find(f"{{{XFORMS_NS}}}model")


def read_xform_identity(xform: str | bytes) -> tuple[str, str, str, list[str]]:
    """Return (form id, version, title, referenced media file names) of an XForm."""
    try:
        root = SafeET.fromstring(xform)
    except SafeET.ParseError as exc:
        raise FormCompileError(
            "xform-invalid", [CompileProblem(f"XML is not well formed: {exc}")]
        ) from exc
    except DefusedXmlException as exc:  # a DTD, entity or external reference
        raise FormCompileError("xform-invalid", [CompileProblem(f"XML refused: {exc!r}")]) from exc
    model = _find_model(root)
    if model is None:
        raise FormCompileError("xform-invalid", [CompileProblem("The XForm has no h:head/model.")])
    main_instance = model.find(f"{{{XFORMS_NS}}}instance")
    if main_instance is None or len(main_instance) == 0:
        raise FormCompileError("xform-invalid", [CompileProblem("The XForm has no main instance.")])
    data = main_instance[0]
    form_id = data.get("id")
    if not form_id:
        raise FormCompileError(
            "form-id-missing",
            [CompileProblem("The form has no form_id (the main instance's root has no id).")],
        )
    version = local_attribute(data, "version") or ""  # `orx:version` too, as Central reads it
    submission = model.find(f"{{{XFORMS_NS}}}submission")
    if submission is not None and submission.get("base64RsaPublicKey"):
        raise FormCompileError(
            "form-encrypted-unsupported",
            [
                CompileProblem(
                    "The form is encrypted (a public_key setting): this server cannot store "
                    "encrypted submissions yet, so it refuses the form rather than lose data."
                )
            ],
        )
    title_el = root.find("{http://www.w3.org/1999/xhtml}head/{http://www.w3.org/1999/xhtml}title")
    title = (title_el.text or "").strip() if title_el is not None else form_id
    media: set[str] = set()
    for inst in model.findall(f"{{{XFORMS_NS}}}instance"):
        if (match := _MEDIA_PATH.match((inst.get("src") or "").strip())) is not None:
            media.add(match.group(1))
    for el in root.iter():
        if el.tag.endswith("value") and (match := _MEDIA_PATH.match((el.text or "").strip())):
            media.add(match.group(1))
    # A media name the form expects is a file name we store and serve (formList manifest,
    # downloads): refuse one no phone could fetch, with the same rule as submission files.
    refused = [
        CompileProblem(f"The form refers to a media file {name!r} that cannot be a file name: "
                       f"{why}.")
        for name in sorted(media)
        if (why := file_name_problem(name)) is not None
    ]
    if refused:
        raise FormCompileError("xform-invalid", refused)
    return form_id, version, title or form_id, sorted(media)


@functools.cache
def _validator_identity() -> bytes:
    """The ODK Validate jar pyxform runs (its path, size and time): a verdict remembered for
    one jar is never taken for another's."""
    jar = Path(ODK_VALIDATE_PATH)
    stat = jar.stat()
    return f"{jar.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode()


def validation_cache_dir() -> Path | None:
    """Where passes of ODK Validate are remembered: FIELDSURVEY_VALIDATE_CACHE, by default
    `$XDG_CACHE_HOME/fieldsurvey/odk-validate` (`~/.cache/…`); an empty value turns it off."""
    configured = os.environ.get("FIELDSURVEY_VALIDATE_CACHE")
    if configured is not None:
        return Path(configured) if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fieldsurvey" / "odk-validate"


def _validation_marker(xform: str) -> Path | None:
    folder = validation_cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(_validator_identity() + xform.encode("utf-8")).hexdigest()
    return folder / digest


def _remember_validation(marker: Path) -> None:
    try:  # an empty file: it exists whole or not at all
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:  # a cache that cannot be written is no cache, never an error
        pass


def validate_with_odk(xform: str, *, remembered: bool = True) -> None:
    """Run ODK Validate (JavaRosa) on the XForm. Raises FormCompileError on failure.

    The jar runs in one long-lived worker process (forms/odk_validate.py: no JVM start per
    form). ODK Validate's verdict depends only on the
    XForm's text and the jar, so a pass is remembered (an empty file named by the SHA-256 of
    both, see `validation_cache_dir`) and the same XForm is not validated again: publishing
    the bundled forms into a new database, or uploading a form again, does not start Java.
    A refusal is never remembered: its messages come from a fresh run. remembered=False runs
    Java whatever the cache holds."""
    marker = _validation_marker(xform) if remembered else None
    if marker is not None and marker.exists():
        return
    check_java_available()  # pyxform's own check and message
    try:
        verdict = shared_validator().check(xform.encode("utf-8"))
    except ValidatorGone as exc:  # a form that kills the JVM (memory) is refused, not a 500
        raise FormCompileError("odk-validate-failed", [CompileProblem(
            f"ODK Validate stopped without a verdict on this form ({exc}).")]) from exc
    if verdict.valid:
        if marker is not None and not verdict.timed_out:
            _remember_validation(marker)
        return
    # read as pyxform reads the command's stderr (odk_validate.check_xform)
    cleaned = "ODK Validate Errors:\n" + ErrorCleaner.odk_validate(verdict.stderr)
    lines = [ln.strip() for ln in cleaned.splitlines() if ln.strip()]
    problems = [CompileProblem.from_message(ln) for ln in lines] or [
        CompileProblem("ODK Validate rejected the form.")
    ]
    raise FormCompileError("odk-validate-failed", problems)


def form_id_from_fallback_header(header: str | None) -> str | None:
    """The form id a `X-XlsForm-FormId-Fallback` header gives, as Central's converter
    (pyxform-http) reads it: percent-decoded, HTML-escaped, last path segment. pyodk sends
    its form_id there, percent-encoded."""
    if not header or not header.strip():
        return None
    name = os.path.basename(str(escape(unquote(header.strip()))))
    return name or None


def _has_explicit_form_id(workbook: dict) -> bool:
    for row in workbook.get("settings") or []:
        if isinstance(row, dict) and (row.get("form_id") or row.get("id_string")):
            return True
    return False


SENSITIVE_COLUMN = "sensitive"
_SENSITIVE_BIND = "bind::fs:sensitive"
_SENSITIVE_YES = frozenset({"yes", "true", "true()", "1"})
_SENSITIVE_NO = frozenset({"", "no", "false", "false()", "0"})


def mark_sensitive_columns(workbook: dict) -> None:
    """The survey sheet's `sensitive` column (yes/no), which pyxform would drop, becomes the
    bind attribute `fs:sensitive="yes"` (namespace SENSITIVE_NS, declared through the
    settings' `namespaces`): it travels in the XForm, where forms/schema.py reads it. A
    value other than yes/no (true/false, 1/0) is refused with its row."""
    marked = False
    for row_number, row in enumerate(workbook.get("survey") or [], start=2):
        if not isinstance(row, dict) or SENSITIVE_COLUMN not in row:
            continue
        value = str(row.pop(SENSITIVE_COLUMN) or "").strip().lower()
        if value in _SENSITIVE_YES:
            row[_SENSITIVE_BIND] = "yes"
            marked = True
        elif value not in _SENSITIVE_NO:
            raise FormCompileError("xlsform-invalid", [CompileProblem(
                f"[row : {row_number}] The column sensitive takes yes or no, not {value!r}.",
                sheet="survey", row=row_number)])
    if not marked:
        return
    for header in workbook.get("survey_header") or []:
        if isinstance(header, dict):
            header.pop(SENSITIVE_COLUMN, None)
            header.setdefault(_SENSITIVE_BIND, None)
    settings = workbook.get("settings") or [{}]
    declared = str(settings[0].get("namespaces") or "")
    if "fs=" not in declared.replace(" ", ""):
        settings[0]["namespaces"] = f'{declared} fs="{SENSITIVE_NS}"'.strip()
    workbook["settings"] = settings
    headers = workbook.get("settings_header") or [{}]
    if isinstance(headers[0], dict):
        headers[0].setdefault("namespaces", None)
    workbook["settings_header"] = headers


# What an uploaded .xlsx may hold once unzipped, checked before pyxform (openpyxl) reads it:
# a 1 MB upload can inflate to a 1 GiB sheet. The bundled forms use under 1 MB and 20k cells.
MAX_XLSFORM_UNZIPPED_BYTES = 64 * 1024 * 1024
MAX_XLSFORM_CELLS = 1_000_000
MAX_XLSFORM_ENTRIES = 1_000
_CELL = re.compile(rb"<c[ >/]")


def check_xlsx_inflation(xlsform: bytes) -> None:
    """Refuse an .xlsx that unzips beyond MAX_XLSFORM_UNZIPPED_BYTES or holds more than
    MAX_XLSFORM_CELLS cells. Every entry is inflated in steps and counted as it comes (the
    sizes a zip declares can lie); nothing is kept."""
    def too_large(message: str) -> FormCompileError:
        return FormCompileError("xlsform-invalid", [CompileProblem(message)])

    try:
        archive = zipfile.ZipFile(BytesIO(xlsform))
    except zipfile.BadZipFile:
        return  # not a zip: pyxform reports what it is
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_XLSFORM_ENTRIES:
            raise too_large(f"The file has {len(entries)} parts; an XLSForm has a few dozen.")
        total = cells = 0
        for entry in entries:
            try:
                with archive.open(entry) as part:
                    carry = b""
                    while chunk := part.read(1 << 20):
                        total += len(chunk)
                        if total > MAX_XLSFORM_UNZIPPED_BYTES:
                            raise too_large(
                                "The XLSForm unzips to more than "
                                f"{MAX_XLSFORM_UNZIPPED_BYTES // (1024 * 1024)} MiB."
                            )
                        if entry.filename.startswith("xl/worksheets/"):
                            cells += len(_CELL.findall(carry + chunk))
                            carry = chunk[-2:]
                            if cells > MAX_XLSFORM_CELLS:
                                raise too_large(
                                    f"The XLSForm has more than {MAX_XLSFORM_CELLS} cells."
                                )
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError) as exc:
                raise FormCompileError(
                    "xlsform-invalid",
                    [CompileProblem(f"The file could not be read as an XLSForm: {exc}")],
                ) from exc


# An .xls (BIFF) is not compressed, so its size bounds its cells; xlrd keeps every cell as an
# object (~100 bytes), so the file itself is capped before anything reads it, then its cells.
MAX_XLS_BYTES = 8 * 1024 * 1024


def check_xls_size(xlsform: bytes) -> None:
    """Refuse an .xls over MAX_XLS_BYTES or with more than MAX_XLSFORM_CELLS cells.

    pyxform then reads the file again with its own xlrd (it takes no opened workbook, and its
    reader pads every row: the allocation this check exists to prevent). The first read is
    left on purpose: `bench/compile_forms.py --xls` measures 4-15 ms for the bundled forms
    as .xls, 3-6 % of a compile without ODK Validate and under 1 % with it (1.2-2.2 s)."""
    if len(xlsform) > MAX_XLS_BYTES:
        raise FormCompileError("xlsform-invalid", [CompileProblem(
            f"The .xls file is larger than {MAX_XLS_BYTES // (1024 * 1024)} MiB; "
            "save the XLSForm as .xlsx.")])
    try:
        # ragged_rows: count the grid pyxform's xlrd would pad to (nrows × ncols) without
        # allocating it: two cells far apart make a tiny file and a 16M-cell grid.
        book = xlrd.open_workbook(file_contents=xlsform, on_demand=True, ragged_rows=True)
    except Exception as exc:  # xlrd raises its own and struct errors for broken files
        raise FormCompileError("xlsform-invalid", [CompileProblem(
            f"The file could not be read as an .xls XLSForm: {exc}")]) from exc
    try:
        cells = 0
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            cells += sheet.nrows * sheet.ncols
            book.unload_sheet(index)
            if cells > MAX_XLSFORM_CELLS:
                raise FormCompileError("xlsform-invalid", [CompileProblem(
                    f"The XLSForm has more than {MAX_XLSFORM_CELLS} cells.")])
    finally:
        book.release_resources()


def compile_xlsform(
    xlsform: bytes,
    *,
    file_type: str = "xlsx",
    ignore_warnings: bool = False,
    validate: bool | None = None,
    form_id_fallback: str | None = None,
) -> CompiledForm:
    """Compile XLSForm bytes (xlsx, or md for tests) to an XForm.

    validate: None means "when java is on PATH".
    form_id_fallback: the form id when the settings sheet gives none, as ODK Central takes it
    from the `X-XlsForm-FormId-Fallback` header (see `form_id_from_fallback_header`); without
    one such a workbook is refused (form-id-missing).
    """
    warnings: list[str] = []
    if file_type.lstrip(".") == "xlsx":
        check_xlsx_inflation(xlsform)
    elif file_type.lstrip(".") == "xls":
        check_xls_size(xlsform)
    try:
        # Read the workbook once; check the settings, then convert the parsed sheets.
        workbook = dataclasses.asdict(
            get_xlsform(xlsform=BytesIO(xlsform), file_type=f".{file_type.lstrip('.')}")
        )
        mark_sensitive_columns(workbook)
        if form_id_fallback and not _has_explicit_form_id(workbook):
            workbook["fallback_form_name"] = form_id_fallback
        elif not _has_explicit_form_id(workbook):
            raise FormCompileError(
                "form-id-missing",
                [
                    CompileProblem(
                        "The settings sheet must give a form_id.", sheet="settings", row=None
                    )
                ],
            )
        result = convert(workbook, warnings=warnings, pretty_print=False)
    except FormCompileError:
        raise
    except PyXFormError as exc:
        raise FormCompileError("xlsform-invalid", [CompileProblem.from_message(str(exc))]) from exc
    except (ValueError, KeyError, TypeError) as exc:
        # pyxform raises these for unreadable workbooks (not a zip, wrong sheets).
        raise FormCompileError(
            "xlsform-invalid", [CompileProblem(f"The file could not be read as an XLSForm: {exc}")]
        ) from exc
    if warnings and not ignore_warnings:
        raise FormCompileError(
            "xlsform-has-warnings", [CompileProblem.from_message(w) for w in warnings]
        )
    xform = result.xform
    if validate is None:
        validate = java_available()
    if validate:
        validate_with_odk(xform)
    return compiled_from_xform(xform, warnings=warnings)


def compiled_from_xform(
    xform: str | bytes, *, warnings: list[str] | None = None, validate: bool = False,
    ignore_warnings: bool = False,
) -> CompiledForm:
    """An XForm as uploaded. ODK Central never runs ODK Validate on an XForm, so what Validate
    says about one is a warning (xform-has-warnings, accepted with ignore_warnings), never a
    refusal; XML that is not an XForm is refused (xform-invalid)."""
    warnings = list(warnings or [])
    try:
        text = xform.decode("utf-8") if isinstance(xform, bytes) else xform
    except UnicodeDecodeError as exc:
        raise FormCompileError(
            "xform-invalid",
            [CompileProblem(f"The XForm is not UTF-8 (byte {exc.start}): {exc.reason}.")],
        ) from exc
    form_id, version, title, media = read_xform_identity(text)
    if validate:
        try:
            validate_with_odk(text)
        except FormCompileError as exc:
            if not ignore_warnings:
                raise FormCompileError("xform-has-warnings", exc.problems) from exc
            warnings.extend(p.message for p in exc.problems)
    return CompiledForm(
        xml_form_id=form_id,
        version=version,
        title=title,
        xform=text,
        md5=hashlib.md5(text.encode("utf-8")).hexdigest(),
        warnings=warnings,
        media=media,
    )


async def compile_xlsform_async(xlsform: bytes, **kwargs) -> CompiledForm:
    return await asyncio.to_thread(compile_xlsform, xlsform, **kwargs)


async def compile_xform_async(
    xform: bytes, *, validate: bool | None = None, ignore_warnings: bool = False
) -> CompiledForm:
    if validate is None:
        validate = java_available()
    return await asyncio.to_thread(
        compiled_from_xform, xform, validate=validate, ignore_warnings=ignore_warnings
    )


_ROOT_VERSION_RE = r'(<{root}\b[^>]*?\bid="{form_id}"[^>]*?)(\s+version="[^"]*")?(\s*/?>)'


def set_xform_version(xform: str, version: str) -> str:
    """Return the XForm with the main instance root's version attribute set to `version`.

    A targeted substitution so that the rest of the bytes (and so the served hash's basis)
    stay exactly as compiled."""
    form_id, _, _, _ = read_xform_identity(xform)
    root = SafeET.fromstring(xform)
    model = _find_model(root)
    data = model.find(f"{{{XFORMS_NS}}}instance")[0]
    local = data.tag.split("}", 1)[-1]
    pattern = re.compile(
        _ROOT_VERSION_RE.format(root=re.escape(local), form_id=re.escape(form_id)), re.DOTALL
    )
    match = pattern.search(xform)
    if match is None:
        raise FormCompileError(
            "xform-invalid", [CompileProblem("Could not find the main instance root element.")]
        )
    head = match.group(1)
    # A version attribute may also sit before id=; drop it there.
    head = re.sub(r'\s+version="[^"]*"', "", head)
    escaped = version.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    replacement = f'{head} version="{escaped}"{match.group(3)}'
    return xform[: match.start()] + replacement + xform[match.end() :]
