"""Times compiling each bundled XLSForm: pyxform conversion, and ODK Validate (JavaRosa) apart.
With --xls, each form saved as .xls (xlwt, a test extra) instead: what the .xls bound check
(forms/compile.py check_xls_size, a first xlrd read) adds to its compile (pyxform reads the file
again with its own xlrd).

With --publish, what a user waits for: a live server (`fieldsurvey serve` on a fresh database,
ODK Validate's pass cache off, so every upload is validated) takes each bundled XLSForm as a
new draft of its form and publishes it with a new version, --repeat times each; p50 and p95 of
the upload, the publish and both. --against DIR does the same with DIR's code served (e.g. a
worktree of main) first, in the same run.

Prints figures; not a test. Usage:
    python bench/compile_forms.py [--repeat N] [--xls | --publish [--against DIR]]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import fresh_database, serve  # noqa: E402
from forms.compile import (  # noqa: E402
    check_xls_size,
    compile_xlsform,
    java_available,
    validate_with_odk,
)

LIBRARY = ROOT / "forms" / "library"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--xls", action="store_true", help="the forms saved as .xls")
    parser.add_argument("--publish", action="store_true", help="upload and publish, served")
    parser.add_argument("--against", type=Path, help="with --publish: another checkout first")
    args = parser.parse_args()
    if args.xls:
        xls_check(args.repeat)
        return
    if args.publish:
        for root in ([args.against.resolve()] if args.against else []) + [ROOT]:
            asyncio.run(publish_served(root, args.repeat))
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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def publish_served(root: Path, repeat: int) -> None:
    async with fresh_database() as dsn:
        with serve(dsn, {"FIELDSURVEY_VALIDATE_CACHE": ""}, root=root) as server:
            auth = server.bearer()
            base = server.base
            pid = httpx.get(f"{base}/v1/projects", headers=auth).json()[0]["id"]
            print(f"served from {root}  (java {'on' if java_available() else 'NOT on'} PATH)")
            print(f"{'form':32} {'upload p50':>11} {'p95':>7} {'publish p50':>12} {'p95':>7}"
                  f" {'both p50':>9} {'p95':>7}  ms")
            everything: list[float] = []
            with httpx.Client(base_url=f"{base}/v1/projects/{pid}/forms", headers=auth,
                              timeout=120) as http:
                for path in sorted(LIBRARY.glob("*.xlsx")):
                    data, form_id = path.read_bytes(), path.stem
                    uploads, publishes = [], []
                    for n in range(repeat):
                        start = time.perf_counter()
                        made = http.post(f"/{form_id}/draft", content=data,
                                         headers={"Content-Type": XLSX})
                        middle = time.perf_counter()
                        published = http.post(f"/{form_id}/draft/publish?version=bench-{n}")
                        end = time.perf_counter()
                        if made.status_code != 200 or published.status_code != 200:
                            raise SystemExit(f"{form_id}: {made.text} {published.text}")
                        uploads.append((middle - start) * 1000)
                        publishes.append((end - middle) * 1000)
                    both = [u + p for u, p in zip(uploads, publishes, strict=True)]
                    everything += both
                    print(f"{form_id:32} {statistics.median(uploads):>11.0f} "
                          f"{percentile(uploads, 0.95):>7.0f} {statistics.median(publishes):>12.0f}"
                          f" {percentile(publishes, 0.95):>7.0f} {statistics.median(both):>9.0f}"
                          f" {percentile(both, 0.95):>7.0f}")
            print(f"{'all forms, upload + publish':32} p50 {statistics.median(everything):.0f} ms"
                  f"   p95 {percentile(everything, 0.95):.0f} ms   ({len(everything)} publications)")


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
