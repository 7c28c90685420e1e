"""Times compiling each bundled XLSForm: pyxform conversion, and ODK Validate (JavaRosa) apart.
With --xls, each form saved as .xls (xlwt, a test extra) instead: what the .xls bound check
(forms/compile.py check_xls_size, a first xlrd read) adds to its compile (pyxform reads the file
again with its own xlrd).

Prints figures; not a test. Usage: python bench/compile_forms.py [--repeat N] [--xls]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

from forms.compile import check_xls_size, compile_xlsform, java_available, validate_with_odk

LIBRARY = Path(__file__).resolve().parent.parent / "forms" / "library"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--xls", action="store_true", help="the forms saved as .xls")
    args = parser.parse_args()
    if args.xls:
        xls_check(args.repeat)
        return
    print(f"{'form':32} {'bytes':>8} {'pyxform ms (median)':>20} {'ODK Validate ms':>16}")
    for path in sorted(LIBRARY.glob("*.xlsx")):
        data = path.read_bytes()
        timings = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            compiled = compile_xlsform(data, validate=False)
            timings.append((time.perf_counter() - start) * 1000)
        validate_ms = float("nan")
        if java_available():
            start = time.perf_counter()
            validate_with_odk(compiled.xform)
            validate_ms = (time.perf_counter() - start) * 1000
        print(f"{path.stem:32} {len(data):>8} {statistics.median(timings):>20.1f} {validate_ms:>16.1f}")
    if not java_available():
        print("java not on PATH: ODK Validate not timed")


def as_xls(path: Path) -> bytes:
    import openpyxl
    import xlwt

    source = openpyxl.load_workbook(path, data_only=True)
    book = xlwt.Workbook()
    for sheet in source.worksheets:
        out = book.add_sheet(sheet.title[:31])
        for r, row in enumerate(sheet.iter_rows(values_only=True)):
            for c, value in enumerate(row):
                if value is not None:
                    out.write(r, c, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def xls_check(repeat: int) -> None:
    print(f"{'form (.xls)':32} {'bytes':>8} {'check ms':>9} {'compile ms':>11} {'check share':>12}")
    for path in sorted(LIBRARY.glob("*.xlsx")):
        data = as_xls(path)
        check, full = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            check_xls_size(data)
            check.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            compile_xlsform(data, file_type="xls", validate=False, ignore_warnings=True)
            full.append((time.perf_counter() - start) * 1000)
        c, f = statistics.median(check), statistics.median(full)
        print(f"{path.stem:32} {len(data):>8} {c:>9.1f} {f:>11.1f} {c / f:>12.1%}")


if __name__ == "__main__":
    main()
