"""A self-contained HTML report per model and run: opens offline, no CDN, plots inlined as PNG."""

from __future__ import annotations

import base64
import html
import io
import warnings
from typing import Any

import numpy as np
import pandas as pd

from pipeline import training_curve
from pipeline.schema import DatasetSchema, Role

MAX_COLUMN_PLOTS = 16
MAX_BARS = 12  # categories shown per column; the rest are folded into one bar
WHY_COLUMNS = 5  # the worst columns of the per-column table say why they score low
MAX_HEATMAP_COLUMNS = 30  # a wider heatmap is unreadable and grows with columns squared
VERDICT_COLOURS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}


def render_report(
    *,
    dataset: str,
    model: str,
    run_id: str,
    verdict: str,
    reasons: list[str],
    metric_rows: list[dict[str, Any]],
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: DatasetSchema,
    split_method: str,
    distances: dict[str, np.ndarray] | None = None,
    loss_history: list[dict[str, float]] | None = None,
    failed_expectations: list[dict[str, Any]] | None = None,
    lineage: dict[str, Any] | None = None,
    findings: list[str] | None = None,
    drift=None,
    column_scores: dict[str, float] | None = None,
    training: dict[str, Any] | None = None,
) -> str:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    sections = [
        _header(dataset, model, run_id, verdict, reasons, split_method),
        _attempts_table((lineage or {}).get("attempts") or []),
        _metrics_table(metric_rows),
        _failed_table(failed_expectations or []),
        _drift_section(drift),
        _section("Privacy in words", "<ul>" + "".join(
            f"<li>{html.escape(f)}</li>" for f in findings) + "</ul>") if findings else "",
        _column_table(real, synthetic, schema, column_scores or {}),
        _section(
            "Column distributions: real (train) vs synthetic",
            _column_plots(real, synthetic, schema),
        ),
        _section(
            "Correlation difference (synthetic - real)",
            _correlation_heatmap(real, synthetic, schema),
        ),
    ]
    if distances:
        sections.append(_section("Distance to closest training record", _dcr_histogram(distances)))
    if loss_history:
        sections.append(_section("Training loss", training_curve.summary(training)
                                 + _img(training_curve.figure(loss_history, training))))
    if schema.is_time_series:
        sections.append(
            _section("Sequences: real vs synthetic", _sequence_plot(real, synthetic, schema))
        )
    if lineage:
        sections.append(_section("Lineage", f"<pre>{html.escape(_pretty(lineage))}</pre>"))
    body = "\n".join(s for s in sections if s)
    return PAGE.format(title=html.escape(f"{dataset} / {model} / {run_id}"), body=body)


def _header(dataset, model, run_id, verdict, reasons, split_method) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#57606a")
    reason_items = (
        "".join(f"<li>{html.escape(r)}</li>" for r in reasons) or "<li>all expectations met</li>"
    )
    return (
        f"<h1>{html.escape(dataset)} &middot; {html.escape(model)}</h1>"
        f"<p class=verdict style='background:{colour}'>{html.escape(verdict.upper())}</p>"
        f"<ul>{reason_items}</ul>"
        f"<p class=meta>run {html.escape(run_id)} &middot; holdout: {html.escape(split_method)}</p>"
    )


def _attempts_table(attempts: list[dict[str, Any]]) -> str:
    """A privacy retry's two fits side by side (nothing for a single attempt)."""
    if len(attempts) < 2:
        return ""
    names = list(dict.fromkeys(k for a in attempts for k in a["metrics"]))
    header = ("<tr><th>attempt</th><th>parameters</th><th>verdict</th>"
              + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "<th>reasons</th></tr>")
    rows = "".join(
        f"<tr><td>{i}</td><td>{html.escape(str(a['parameters']))}</td>"
        f"<td>{html.escape(a['verdict'])}</td>"
        + "".join(f"<td>{_fmt(a['metrics'].get(n))}</td>" for n in names)
        + f"<td>{html.escape('; '.join(a['reasons']))}</td></tr>"
        for i, a in enumerate(attempts, 1))
    return _section("Attempts: the first fit failed a privacy bound, the second is more "
                    "private", f"<table>{header}{rows}</table>")


def _metrics_table(rows: list[dict[str, Any]]) -> str:
    """Gated metrics (with bounds) first; the informational ones folded underneath."""
    if not rows:
        return ""
    gated = [r for r in rows if r["kind"] != "info"]
    info = [r for r in rows if r["kind"] == "info"]
    header = ("<tr><th>metric</th><th>kind</th><th>value</th><th>min</th><th>max</th>"
              "<th>status</th><th>why this bound</th></tr>")
    table = "<table>" + header + "".join(_metric_row(r) for r in gated) + "</table>"
    if info:
        table += (f"<details><summary>{len(info)} more metrics, reported without a bound"
                  "</summary><table>" + header + "".join(_metric_row(r) for r in info)
                  + "</table></details>")
    return _section("Metrics", table)


def _metric_row(row: dict[str, Any]) -> str:
    status = row.get("status", "")
    cls = {"ok": "ok", "failed": "bad"}.get(status, "")
    return (
        f"<tr class={cls}><td>{html.escape(row['metric'])}</td><td>{row['kind']}</td>"
        f"<td>{_fmt(row['value'])}</td><td>{_fmt(row.get('min_value'))}</td>"
        f"<td>{_fmt(row.get('max_value'))}</td><td>{status}</td>"
        f"<td class=why>{html.escape(row.get('why', ''))}</td></tr>"
    )


def _failed_table(failed: list[dict[str, Any]]) -> str:
    if not failed:
        return ""
    rows = "".join(
        "<tr class=bad>"
        + "".join(f"<td>{html.escape(str(f.get(k)))[:200]}</td>"
                  for k in ("expectation", "column", "kind", "observed"))
        + "</tr>"
        for f in failed
    )
    return _section(
        "Failed expectations",
        "<table><tr><th>expectation</th><th>column</th><th>kind</th>"
        f"<th>observed</th></tr>{rows}</table>",
    )


def _column_plots(real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema) -> str:
    import matplotlib.pyplot as plt

    columns = [c for c in schema.modelled_columns() if c in real and c in synthetic]
    columns = columns[:MAX_COLUMN_PLOTS]
    if not columns:
        return "<p>No modelled columns.</p>"
    ncols = 4
    nrows = int(np.ceil(len(columns) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(16, 3.2 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, columns):
        _plot_column(ax, real[name], synthetic[name], schema.column(name).role)
        ax.set_title(name, fontsize=10)
    for ax in list(axes.flat)[len(columns) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    return _img(fig)


def _plot_column(ax, real: pd.Series, synthetic: pd.Series, role: Role) -> None:
    if role in (Role.numerical, Role.datetime):
        dates = role == Role.datetime or pd.api.types.is_datetime64_any_dtype(real)
        convert = _as_dates if dates else _as_float
        r = convert(real.dropna())
        s = convert(synthetic.dropna())
        both = np.concatenate([r, s])
        if len(both) == 0:
            return
        bins = _histogram_bins(both)
        ax.hist(r, bins=bins, alpha=0.5, density=True, label="real")
        ax.hist(s, bins=bins, alpha=0.5, density=True, label="synthetic")
        if dates:
            _date_axis(ax)
        return
    r, s = _folded_shares(real, synthetic)
    x = np.arange(len(r))
    ax.bar(x - 0.2, r.to_numpy(), 0.4, label="real")
    ax.bar(x + 0.2, s.to_numpy(), 0.4, label="synthetic")
    ax.set_xticks(x, [str(t)[:14] for t in r.index], rotation=60, fontsize=7, ha="right")


def _folded_shares(real: pd.Series, synthetic: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Shares of the real data's most frequent categories, most frequent first, and the
    rest folded into one 'other (n values)' entry, for both sides."""
    r = real.astype("string").fillna("(missing)").value_counts(normalize=True)
    s = synthetic.astype("string").fillna("(missing)").value_counts(normalize=True)
    top = list(r.index[:MAX_BARS])
    r_top, s_top = r.reindex(top).fillna(0.0), s.reindex(top).fillna(0.0)
    rest = len(r.index.union(s.index)) - len(top)
    if rest > 0:
        label = f"other ({rest} values)"
        r_top[label], s_top[label] = 1.0 - r_top.sum(), 1.0 - s_top.sum()
    return r_top, s_top


def _column_table(real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema,
                  scores: dict[str, float]) -> str:
    """Every column's shape score, worst first; the worst few say where real and synthetic
    differ, in the column's own units."""
    if not scores:
        return ""
    ordered = sorted(scores, key=lambda c: (np.nan_to_num(scores[c], nan=2.0), c))
    rows = []
    for rank, name in enumerate(ordered):
        why = _why(real[name], synthetic[name], schema.column(name)) if (
            rank < WHY_COLUMNS and scores[name] < 0.95) else ""
        cls = "bad" if scores[name] < 0.8 else ("" if scores[name] < 0.95 else "ok")
        rows.append(f"<tr class={cls}><td>{html.escape(name)}</td>"
                    f"<td>{schema.column(name).role.value}</td><td>{_fmt(scores[name])}</td>"
                    f"<td class=why>{html.escape(why)}</td></tr>")
    return _section("Fidelity per column (Column Shapes: 1 is identical)",
                    "<table><tr><th>column</th><th>kind</th><th>score</th><th>where they "
                    "differ</th></tr>" + "".join(rows) + "</table>")


def _why(real: pd.Series, synthetic: pd.Series, spec) -> str:
    parts = []
    missing = (real.isna().mean(), synthetic.isna().mean())
    if abs(missing[0] - missing[1]) >= 0.02:
        parts.append(f"missing {missing[0]:.0%} real vs {missing[1]:.0%} synthetic")
    if spec.role in (Role.numerical, Role.datetime):
        dates = spec.role == Role.datetime
        quantiles = [_quantiles(v, dates) for v in (real.dropna(), synthetic.dropna())]
        if all(q is not None for q in quantiles):
            show = (lambda v: str(v)[:10]) if dates else (lambda v: _number(v, spec))
            (r10, r50, r90), (s10, s50, s90) = quantiles
            parts.append(f"median {show(r50)} real vs {show(s50)} synthetic; 10-90% range "
                         f"{show(r10)} to {show(r90)} vs {show(s10)} to {show(s90)}")
        return "; ".join(parts)
    r, s = _folded_shares(real, synthetic)
    worst = (r - s).abs().idxmax() if len(r) else None
    if worst is not None:
        parts.append(f"{worst!s}: {r[worst]:.1%} of real rows vs {s[worst]:.1%} of synthetic")
    return "; ".join(parts)


def _quantiles(values: pd.Series, dates: bool):
    if values.empty:
        return None
    if dates:
        stamps = pd.to_datetime(values, errors="coerce").dropna()
        return None if stamps.empty else tuple(stamps.quantile([0.1, 0.5, 0.9]))
    numbers = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    return None if numbers.empty else tuple(numbers.quantile([0.1, 0.5, 0.9]))


def _number(value: float, spec) -> str:
    """A value with the column's own precision (its decimals, whole numbers for integers)."""
    if spec.integer or spec.decimals == 0:
        return f"{value:,.0f}"
    if spec.decimals is not None:
        return f"{value:,.{spec.decimals}f}"
    return f"{value:,.4g}"


def _histogram_bins(values: np.ndarray) -> np.ndarray | int:
    """30 equal bins, or one bin where the range is too narrow for its magnitude's floats
    (a column constant at 1.5e18: numpy cannot widen it by half a unit)."""
    try:
        return np.histogram_bin_edges(values, bins=30)
    except ValueError:
        low, high = float(values.min()), float(values.max())
        return np.array([low, max(high, np.nextafter(low, np.inf))])


def _as_dates(values: pd.Series) -> np.ndarray:
    """Dates as matplotlib's day numbers, so the axis is labelled with dates."""
    import matplotlib.dates as mdates

    stamps = pd.to_datetime(values, errors="coerce", utc=True).dropna().dt.tz_localize(None)
    return mdates.date2num(stamps.to_numpy(dtype="datetime64[ns]"))


def _date_axis(ax) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _as_float(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("int64").to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)


def _correlation_heatmap(real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema) -> str:
    import matplotlib.pyplot as plt

    numeric = [c for c in schema.names(Role.numerical) if c in schema.modelled_columns()]
    if len(numeric) < 2:
        return "<p>Fewer than two numeric columns.</p>"
    r = real[numeric].astype("float64").corr()
    s = synthetic[numeric].astype("float64").corr()
    diff = (s - r).fillna(0.0)
    note = ""
    if len(numeric) > MAX_HEATMAP_COLUMNS:  # a wide table: the columns that differ most
        worst = diff.abs().sum().sort_values(ascending=False).index[:MAX_HEATMAP_COLUMNS]
        note = (f"<p>The {MAX_HEATMAP_COLUMNS} of {len(numeric)} numeric columns whose "
                "correlations differ most.</p>")
        numeric = [c for c in numeric if c in set(worst)]
        diff = diff.loc[numeric, numeric]
    diff = diff.to_numpy()
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(numeric), 0.6 * len(numeric) + 1))
    im = ax.imshow(diff, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(numeric)), numeric, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(numeric)), numeric, fontsize=8)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return note + _img(fig)


def _dcr_histogram(distances: dict[str, np.ndarray]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    arrays = {k: np.asarray(v, dtype=float) for k, v in distances.items() if len(v)}
    if not arrays:
        return ""
    top = np.quantile(np.concatenate(list(arrays.values())), 0.99) or 1.0
    bins = np.linspace(0, top, 40)
    for label, values in arrays.items():
        ax.hist(np.clip(values, 0, top), bins=bins, alpha=0.5, density=True, label=label)
    ax.set_xlabel("distance to closest training record")
    ax.legend()
    return _img(fig)


def _drift_section(drift) -> str:
    """This run against the dataset's previous runs: the table and one plot per metric."""
    if drift is None or not drift.rows:
        return ""
    import matplotlib.pyplot as plt

    rows = "".join(
        f"<tr class={'bad' if r['flagged'] else 'ok'}><td>{html.escape(r['metric'])}</td>"
        f"<td>{_fmt(r['value'])}</td><td>{_fmt(r['previous'])}</td><td>{r['runs']}</td>"
        f"<td>{_fmt(r['worse_by'])}</td><td>{_fmt(r['tolerance'])}</td></tr>"
        for r in drift.rows)
    table = ("<table><tr><th>metric</th><th>this run</th><th>median of previous runs</th>"
             "<th>runs</th><th>worse by</th><th>tolerance</th></tr>" + rows + "</table>")
    metrics = [r["metric"] for r in drift.rows]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 2.8), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        values = [v for _, v in drift.series[metric]]
        ax.plot(range(len(values)), values, marker="o")
        ax.plot([len(values) - 1], [values[-1]], marker="o", color="#cf222e", ls="")
        ax.set_title(metric, fontsize=10)
        ax.set_xticks(range(len(values)), [_run_label(run) for run, _ in drift.series[metric]],
                      rotation=45, fontsize=7, ha="right")
    return _section("Against earlier runs", table + _img(fig))


def _run_label(run_id: str) -> str:
    """'20261201T221714Z-ab12cd34' -> '12-01 22:17' (run ids start with their UTC time)."""
    stamp = run_id[:15]
    if len(stamp) == 15 and stamp[8] == "T" and stamp[:8].isdigit():
        return f"{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    return run_id[:12]


def _sequence_plot(real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema) -> str:
    import matplotlib.pyplot as plt

    numeric = [
        c
        for c in schema.names(Role.numerical)
        if c in schema.modelled_columns() and not schema.column(c).static
    ][:4]
    if not numeric:
        return ""
    fig, axes = plt.subplots(len(numeric), 2, figsize=(14, 2.6 * len(numeric)), squeeze=False)
    for col_idx, (label, frame) in enumerate((("real", real), ("synthetic", synthetic))):
        first = _first_sequence(frame, schema)
        for row_idx, name in enumerate(numeric):
            ax = axes[row_idx, col_idx]
            ax.plot(first[schema.sequence_index], first[name].astype("float64"), lw=0.8)
            ax.set_title(f"{label}: {name}", fontsize=9)
    fig.autofmt_xdate()
    return _img(fig)


def _first_sequence(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    if schema.sequence_key:
        first_key = frame[schema.sequence_key].iloc[0]
        frame = frame[frame[schema.sequence_key] == first_key]
    return frame.sort_values(schema.sequence_index).head(24 * 14)


def _img(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    with warnings.catch_warnings():  # matplotlib's layout and date-tick notes: cosmetic,
        warnings.simplefilter("ignore", UserWarning)  # and they reached the user's console
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"<img alt='plot' src='data:image/png;base64,{encoded}'>"


def _section(title: str, content: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n{content}" if content else ""


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _pretty(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value, indent=2, default=str)


PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #1f2328; }}
.verdict {{ display: inline-block; color: white; padding: .3rem 1rem; border-radius: 4px;
           font-size: 1.4rem; font-weight: bold; }}
table {{ border-collapse: collapse; font-size: .9rem; }}
td, th {{ border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; }}
tr.bad td {{ background: #ffebe9; }} tr.ok td {{ background: #dafbe1; }}
td.why {{ color: #57606a; font-size: .8rem; max-width: 420px; }}
img {{ max-width: 100%; }} .meta {{ color: #57606a; }}
</style></head><body>
{body}
</body></html>
"""
