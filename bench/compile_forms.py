"""Times compiling each bundled XLSForm: pyxform conversion, and ODK Validate (JavaRosa) apart.

Prints figures; not a test. Usage: python bench/compile_forms.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from forms.compile import compile_xlsform, java_available, validate_with_odk

LIBRARY = Path(__file__).resolve().parent.parent / "forms" / "library"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
