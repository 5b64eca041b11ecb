"""Regenerate the golden outputs. Run on purpose only, and say so in the commit: the files
are the proof that a refactor changed no output."""

from __future__ import annotations

import sys
import time

from tests.golden.cases import CASES, paths, run_case


def main(names: list[str]) -> None:
    for case in CASES:
        if names and case.name not in names:
            continue
        started = time.perf_counter()
        schema_json, parquet = run_case(case)
        schema_path, parquet_path = paths(case)
        schema_path.write_text(schema_json)
        parquet_path.write_bytes(parquet)
        print(f"{case.name}: {len(parquet)} bytes in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
