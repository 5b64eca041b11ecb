"""Results on disk: JSON (everything), Markdown tables (regenerated from the JSON), a PNG of fit
time against quality, and latest.md for the README to embed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.settings import RESULTS, SECTIONS

FULL_MARKER = "<!-- benchmark mode: full -->"


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


# --- markdown ----------------------------------------------------------------------------------
def markdown(results: dict[str, Any], figure: str | None) -> str:
    meta, budget = results["meta"], results["budget"]
    lines = [
        f"<!-- benchmark mode: {budget['mode']} -->",
        f"# Benchmark: {meta['date']} on {meta['machine']['label']} ({budget['mode']} run)",
        "",
        _machine_line(meta),
        "",
        "Library versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
        _budget_line(budget),
        "",
    ]
    if budget["mode"] != "full":
        lines += ["**Quick run**: subsampled data, 1 repetition, tiny epoch budgets. The "
                  "figures show that the harness works, not how the models compare.", ""]
    if meta.get("contended"):
        lines += [f"**Contended machine**: {meta['contended']}", ""]
    if "tabular" in results:
        lines += _tabular_section(results["tabular"])
    if "ratios" in results:
        lines += _ratio_section(results["ratios"])
    for block in results.get("timeseries", []):
        lines += _timeseries_section(block)
    if results.get("profiles"):
        lines += _profile_section(results["profiles"])
    if results.get("scale"):
        lines += _scale_section(results["scale"])
    if figure:
        lines += ["## Fit time against quality (Adult)", "", f"![fit time vs quality]({figure})",
                  ""]
    lines += [f"Whole run: {results.get('seconds', 0):.0f} s.", ""]
    return "\n".join(lines)


def _machine_line(meta: dict) -> str:
    m = meta["machine"]
    load = meta.get("load_average")
    return (
        f"Machine: {m['cpu_model']}, {m['cores']} cores usable, {m['memory_gb']:.0f} GB "
        f"memory, {m['platform']}; Python {meta['versions'].get('python')}."
        + (f" Load average (1 min) at start {load['start']:.2f}, at end {load['end']:.2f}."
           if load else "")
    )


def _budget_line(b: dict) -> str:
    adult = "all of the 80 % split" if b["train_rows"] is None else f"{b['train_rows']:,} rows"
    return (
        f"Budget: {b['repetitions']} repetition(s) per timing (median, each in a fresh "
        f"process, contenders interleaved repetition by repetition); Adult training rows: "
        f"{adult}; CTGAN {b['ctgan_epochs']} epochs, TVAE "
        f"{b['tvae_epochs']} epochs, PAR {b['par_epochs']} epochs, batch size "
        f"{b['batch_size']}, {b['threads']} thread(s) for every contender; CPU only."
    )


TABULAR_COLUMNS = [
    ("contender", None), ("kind", None), ("fit s", "fit_seconds"),
    ("sample rows/s", "sample_rows_per_second"), ("peak RSS MB", "peak_rss_mb"),
    ("Column Shapes", "column_shapes"), ("Column Pair Trends", "column_pair_trends"),
    ("detection AUC", "detection_auc"), ("ML utility F1", "ml_utility"),
    ("DCR share excess", "dcr_share_excess"), ("exact-copy rate", "exact_copy_rate"),
]


def _row_value(row: dict, key: str | None) -> Any:
    if key in row:
        return row[key]
    return row.get("metrics", {}).get(key)


def _tabular_section(block: dict) -> list[str]:
    d = block["dataset"]
    lines = [
        f"## Tabular: {d['name']} ({d['train_rows']:,} train / {d['holdout_rows']:,} holdout "
        "rows)", "",
        f"Split: {d['split']}. Scores compare each output with the training rows; ML utility "
        f"trains on the output and tests on the real holdout (F1 of `{d['target']}`'s minority "
        "class); DCR share excess 0 = as close to training as to holdout rows, 1 = copies. "
        "Higher is better except detection AUC (0.5 best), DCR share excess and exact-copy "
        "rate.", "",
    ]
    rows = [[r["name"], r["kind"], *(_row_value(r, k) for _, k in TABULAR_COLUMNS[2:])]
            for r in block["contenders"] if r["status"] == "ok"]
    lines += _table([h for h, _ in TABULAR_COLUMNS], rows) + [""]
    return lines + _not_run(block["contenders"])


def _not_run(rows: list[dict]) -> list[str]:
    missing = [r for r in rows if r["status"] != "ok"]
    if not missing:
        return []
    return ["Not run: " + "; ".join(f"`{r['name']}` ({r['status']}: {r['reason']})"
                                     for r in missing) + ".", ""]


def _ratio_section(ratios: dict) -> list[str]:
    lines = ["## Ratios", ""]
    for item in ratios.get("pipeline_overhead", []):
        verdict = "" if item["within_target"] is None else (
            ": within" if item["within_target"] else ": **over**")
        lines.append(
            f"- {item['dataset']}: `{item['ours']}` / `{item['raw']}` (identical settings), fit "
            f"wall time: **{_fmt(item['fit_ratio'])}** (target ≤ {item['target']}{verdict}), "
            f"fit + sample: {_fmt(item['fit_sample_ratio'])}"
        )
    gmm = ratios.get("gmm_vs_sdv_gaussian_copula")
    if gmm:
        lines.append(
            f"- `gmm` / `sdv_gaussian_copula`: fit time {_fmt(gmm['fit_ratio'])}, sample "
            f"rows/s {_fmt(gmm['sample_rate_ratio'])}, Column Shapes "
            f"{_fmt(gmm['column_shapes_ratio'])}, Column Pair Trends "
            f"{_fmt(gmm['column_pair_trends_ratio'])}, ML utility "
            f"{_fmt(gmm['ml_utility_ratio'])}, detection AUC {_fmt(gmm['detection_auc'][0])} "
            f"vs {_fmt(gmm['detection_auc'][1])}"
        )
    for note in ratios.get("notes", []):
        lines.append(f"- {note}")
    return lines + [""]


TS_COLUMNS = [
    ("contender", None), ("kind", None), ("fit s", "fit_seconds"),
    ("sample rows/s", "sample_rows_per_second"), ("peak RSS MB", "peak_rss_mb"),
    ("marginals (KS/TV)", "seq_shape_mean"), ("lag-1 autocorr. max diff", "seq_lag1_max_abs_diff"),
    ("seasonal-lag max diff", "seq_seasonal_lag_max_abs_diff"),
    ("cross-corr. similarity", "seq_correlation_similarity"),
    ("length similarity", "seq_length_similarity"),
]


def _timeseries_section(block: dict) -> list[str]:
    d = block["dataset"]
    lines = [
        f"## Time series: {d['name']} ({d['train_rows']:,} train rows in "
        f"{d['train_sequences']} sequences / {d['holdout_rows']:,} holdout rows)", "",
        f"Split: {d['split']}. Each model samples as many sequences as the training data has. "
        "Lower autocorrelation differences are better.", "",
    ]
    if "tails" in d["split"]:
        lines += [
            "The holdout here is the last part of each sequence (too few entities to hold "
            "whole ones out): a later season and shorter sequences, so the 'ceiling' row "
            "shows that drift, not the best a generator can do.", "",
        ]
    rows = [[r["name"], r["kind"], *(_row_value(r, k) for _, k in TS_COLUMNS[2:])]
            for r in block["contenders"] if r["status"] == "ok"]
    lines += _table([h for h, _ in TS_COLUMNS], rows) + [""]
    return lines + _not_run(block["contenders"])


def _profile_section(profiles: list[dict]) -> list[str]:
    lines = ["## Where CTGAN's and TVAE's fit time goes (CPU, cProfile of one fit)", ""]
    ok = [p for p in profiles if p.get("status") == "ok"]
    if ok:
        header = ["phase"] + [f"{p['model']} ({p['parameters'].get('epochs')} epochs, "
                              f"{p['profiled_fit_seconds']:.0f} s)" for p in ok]
        phases = [row["phase"] for row in ok[0]["phases"]]
        rows = []
        for i, phase in enumerate(phases):
            rows.append([phase] + [
                f"{p['phases'][i]['seconds']:.1f} s ({100 * (p['phases'][i]['share'] or 0):.0f} %)"
                for p in ok
            ])
        lines += _table(header, rows) + [""]
    return lines + _not_run([{**p, "name": p.get("model")} for p in profiles])


def _scale_section(scale: dict) -> list[str]:
    lines = ["## Scale", ""]
    sampling = scale.get("sampling")
    if sampling and sampling.get("status") == "ok":
        phases = sampling["phase_seconds"]
        lines += [
            f"**GMM to Parquet**: {sampling['rows']:,} Adult-shaped rows in "
            f"{sampling['chunks']} chunks of {sampling['chunk_rows']:,}: "
            f"{sampling['seconds']:.1f} s, **{sampling['rows_per_second']:,.0f} rows/s** end to "
            "end (target ≥ 1,000,000), sampling alone "
            f"{sampling['sample_only_rows_per_second']:,.0f} rows/s; peak RSS "
            f"**{sampling['peak_rss_mb']:,.0f} MB** (target < 1,024); "
            f"time in sample {phases['sample']:.1f} s, Arrow conversion "
            f"{phases['to_arrow']:.1f} s, Parquet write {phases['write']:.1f} s; file "
            f"{sampling['parquet_bytes'] / 2**20:,.0f} MB.", "",
        ]
        pooled = sampling.get("processes") or {}
        if pooled.get("status") == "ok":
            lines += [
                f"**On {pooled['workers']} local processes** (the product's `ShardPool`: "
                f"what `synth run --processes {pooled['workers']}` does, one Parquet part per "
                f"shard of {pooled['shard_rows']:,} rows): {pooled['seconds']:.1f} s, "
                f"**{pooled['rows_per_second']:,.0f} rows/s** end to end (target ≥ "
                f"1,000,000); peak RSS of all processes together "
                f"**{pooled['peak_rss_all_processes_mb']:,.0f} MB** (target < 1,024); files "
                f"{pooled['parquet_bytes'] / 2**20:,.0f} MB.", ""]
        elif pooled:
            lines += [f"GMM to Parquet on local processes not run: {pooled.get('reason')}", ""]
        profile = sampling.get("chunk_profile")
        if profile:
            lines += [f"Where one {profile['rows']:,}-row chunk's sampling time goes "
                      f"(cProfile, {profile['profiled_seconds']:.1f} s):", ""]
            lines += _table(["phase", "seconds", "share"], [
                [p["phase"], p["seconds"], f"{100 * (p['share'] or 0):.0f} %"]
                for p in profile["phases"]
            ]) + [""]
    elif sampling:
        lines += [f"GMM to Parquet not run: {sampling.get('reason')}", ""]
    for key, title in (("gmm_fit_growth", "GMM fit time as Adult grows (rows resampled)"),
                       ("hmm_fit_growth", "HMM fit time as nyc_weather grows (more entities)")):
        growth = scale.get(key)
        if not growth:
            continue
        lines += [f"**{title}**: growth exponent (log-log slope) "
                  f"**{_fmt(growth.get('exponent'))}**. {growth.get('note', '')}", ""]
        lines += _table(["factor", "rows", "fit s", "peak RSS MB", "components / states",
                         "to Parquet rows/s"], [
            [p["factor"], p.get("rows"), p.get("fit_seconds"), p.get("peak_rss_mb"),
             p.get("n_components") or p.get("n_states") or p.get("reason"),
             p.get("sample_rows_per_second") or "–"]
            for p in growth["points"]
        ]) + [""]
    growth = scale.get("validation_growth")
    if growth:
        lines += ["**Validation time** (fidelity_metrics + privacy_metrics, independent-columns "
                  f"output) as rows grow: exponent **{_fmt(growth.get('exponent'))}**.", ""]
        lines += [growth.get("note", ""), ""]
        lines += _table(["factor", "train rows", "fidelity s", "privacy s", "total s",
                         "peak RSS MB", "1 % copies", "10 % copies"], [
            [p["factor"], p.get("train_rows"), p.get("fidelity_seconds"),
             p.get("privacy_seconds"), p.get("seconds"), p.get("peak_rss_mb"),
             *(_leak_cell((p.get("leaks") or {}).get(k)) for k in ("1%", "10%"))]
            for p in growth["points"]
        ]) + [""]
    return lines


def _leak_cell(gate: dict | None) -> str:
    if not gate:
        return "–"
    return f"FAIL ({', '.join(gate['failed'])})" if gate["fails"] else "pass"


# --- figure --------------------------------------------------------------------------------
FAMILY_COLOURS = {"ours": "tab:blue", "sdv": "tab:orange", "floor": "tab:grey",
                  "ceiling": "tab:green"}


def plot(results: dict[str, Any], path: Path) -> Path | None:
    """Fit time (log) against quality and ML utility, one point per tabular contender."""
    block = results.get("tabular")
    if not block:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in block["contenders"] if r["status"] == "ok"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric, label in ((axes[0], "quality_score", "quality (mean of Shapes and Trends)"),
                              (axes[1], "ml_utility", "ML utility (F1, income)")):
        for row in rows:
            value = row["metrics"].get(metric)
            if value is None:
                continue
            if row["kind"] == "ceiling":
                ax.axhline(value, color=FAMILY_COLOURS["ceiling"], ls="--", lw=1)
                ax.annotate("real holdout", (0.01, value), xycoords=("axes fraction", "data"),
                            va="bottom", fontsize=8, color=FAMILY_COLOURS["ceiling"])
                continue
            x = max(row.get("fit_seconds") or 0.0, 0.01)
            ax.scatter(x, value, color=FAMILY_COLOURS.get(row["kind"], "black"), s=36)
            ax.annotate(row["name"], (x, value), textcoords="offset points", xytext=(4, 3),
                        fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("fit seconds (log; the floor has no fit)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    meta = results["meta"]
    fig.suptitle(f"Adult, {results['budget']['mode']} run, {meta['date']}, "
                 f"{meta['machine']['label']} (blue: ours, orange: raw SDV)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- files ---------------------------------------------------------------------------------
def write_outputs(results: dict[str, Any], out_dir: Path, stem: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    plot(results, out_dir / f"{stem}.png")
    _atomic_write(json_path, json.dumps(results, indent=2, default=_json_default))
    return render(json_path)


def render(json_path: Path) -> dict[str, Path]:
    """(Re)write the Markdown beside a results JSON, and latest.md: no benchmark is rerun."""
    json_path = Path(json_path)
    results = json.loads(json_path.read_text())
    out_dir, stem = json_path.parent, json_path.stem
    paths = {"json": json_path, "markdown": out_dir / f"{stem}.md"}
    figure = out_dir / f"{stem}.png"
    if figure.exists():
        paths["figure"] = figure
    _atomic_write(paths["markdown"], markdown(results, figure.name if figure.exists() else None))
    latest = out_dir / "latest.md"
    # a quick run never replaces the numbers of a full run that the README shows
    if results["budget"]["mode"] == "full" or not _is_full(latest):
        if figure.exists():
            (out_dir / "latest.png").write_bytes(figure.read_bytes())
        _atomic_write(latest, markdown(results, "latest.png" if figure.exists() else None))
        paths["latest"] = latest
        if publishes(results, out_dir):
            embed_in_readme(markdown(results, "benchmarks/results/latest.png"
                                     if figure.exists() else None))
    return paths


README = Path(__file__).resolve().parents[1] / "README.md"


def publishes(results: dict[str, Any], out_dir: Path) -> bool:
    """Whether a run replaces the README's table: a full run of every section and contender
    written to `benchmarks/results`. A partial rerun elsewhere (`--only timeseries --out
    /tmp/x`) once replaced the published Adult table with its own time-series rows."""
    budget = results["budget"]
    return (
        budget["mode"] == "full"
        and tuple(budget.get("sections") or SECTIONS) == SECTIONS
        and not budget.get("contenders")
        and Path(out_dir).resolve() == RESULTS
    )


START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def embed_in_readme(table: str, readme: Path = README, start: str = START,
                    end: str = END) -> None:
    """Replace a README section between two markers with a run's table (never typed by
    hand); the benchmark section by default."""
    text = readme.read_text()
    if start not in text or end not in text:
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    _atomic_write(readme, f"{head}{start}\n{table.strip()}\n{end}{tail}")


def _is_full(path: Path) -> bool:
    return path.exists() and path.read_text().startswith(FULL_MARKER)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
