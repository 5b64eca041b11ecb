"""Regenerate the golden outputs. Run on purpose only, and say so in the commit: the files
are the proof that a refactor changed no output."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.golden.cases import CASES, _run_here, paths, run_case


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


def one(name: str, directory: str) -> None:
    """One case in this process, written to `directory` (run_case's fresh-process path)."""
    (case,) = [c for c in CASES if c.name == name]
    schema_json, parquet = _run_here(case)
    (Path(directory) / "schema.json").write_text(schema_json)
    (Path(directory) / "out.parquet").write_bytes(parquet)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1:])
