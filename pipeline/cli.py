"""`synth`: run the synthesize flow on a file or job file, the demo, or a validation audit.

Heavy libraries (prefect, sdv, torch, great_expectations) are imported inside the commands so
`synth --help` answers at once. User errors print one line and exit 2; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError

# Telemetry stays off however `synth` is started (the Makefile exports the same values); a
# value the user set wins. Prefect and GX read these when first imported.
ENV_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
}
EXIT_USER_ERROR = 2
EXIT_VALIDATION_FAILED = 3
EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug of ours
# What Prefect's RuntimeError says when its temporary server never answered.
NO_SERVER = "ephemeral Prefect API server"
DEMO_NAME = "student_placements"
DEMO_RESOURCE = "demos/single_table/student_placements_real.csv"
# name -> (dataset name, file inside the sdmetrics package, job settings)
DEMOS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "table": (DEMO_NAME, DEMO_RESOURCE, {}),
    "timeseries": ("store_sales", "demos/timeseries/timeseries_real.csv",
                   {"models": ["hmm"], "sequence_key": "store_id", "sequence_index": "date"}),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synth",
        description="Fit generative models to a table or time series, validate fidelity and "
        "privacy, and publish synthetic Parquet.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the synthesize flow on a file or a job file")
    run.add_argument("job_file", nargs="?", help="YAML job file (flows/jobs/NAME.yaml)")
    _add_job_options(run)

    demo = commands.add_parser("demo", help="run the flow on the built-in demo table")
    demo.add_argument("--model", help="model(s), comma-separated (default: gmm)")
    demo.add_argument("--output-dir", default="data")
    demo.add_argument("--timeseries", action="store_true",
                      help="the store-sales time series demo (100 stores x 7 days, hmm)")

    validate = commands.add_parser(
        "validate", help="audit a synthetic file made by any tool against the real data"
    )
    validate.add_argument("--real", required=True, help="the real data (CSV/Parquet)")
    validate.add_argument("--synthetic", required=True, help="the synthetic data to audit")
    validate.add_argument("--name", required=True, help="dataset name (schema and suites)")
    validate.add_argument(
        "--holdout",
        help="real rows the synthetic data never saw; "
        "default: split off 20%% of --real, as a run does",
    )
    validate.add_argument("--target", help="column for the ML-utility metric")
    validate.add_argument("--seed", type=int, default=0)
    validate.add_argument("--output-dir", default="data")

    serve = commands.add_parser(
        "serve", help="serve job files as Prefect deployments (schedules, triggers)")
    serve.add_argument("job_files", nargs="*", help="job files (default: flows/jobs/*.yaml)")

    deployments = commands.add_parser(
        "deployments", help="print prefect.yaml for the job files (--write: replace it)")
    deployments.add_argument("job_files", nargs="*", help="default: flows/jobs/*.yaml")
    deployments.add_argument("--write", action="store_true", help="write ./prefect.yaml")
    trigger = commands.add_parser(
        "trigger", help="run a served deployment now: synth trigger NAME --param rows=1000")
    trigger.add_argument("name", help="deployment name (the job's name)")
    trigger.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                         help="override a job setting (repeatable), e.g. models=gmm,ctgan")
    trigger.add_argument("--no-wait", action="store_true", help="return once scheduled")

    many = commands.add_parser("many", help="run several job files as subflows of one run")
    many.add_argument("job_files", nargs="+")

    runs = commands.add_parser("runs", help="list a dataset's runs: models, verdicts, rows, "
                               "where")
    runs.add_argument("name", help="dataset name")
    runs.add_argument("--output-dir", default="data")
    show = commands.add_parser("show", help="one run's summary and report path")
    show.add_argument("run_id", help="a run id as `synth runs` lists it (or its start)")
    show.add_argument("--output-dir", default="data")

    models = commands.add_parser("models", help="list the available models")
    models.add_argument("--params", action="store_true",
                        help="also list each model's parameters, defaults and meaning")
    return parser


def _add_job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="CSV or Parquet: a path or fsspec URL")
    parser.add_argument("--name", help="dataset name (letters, digits, _ - .)")
    parser.add_argument("--model", help="model(s), comma-separated, e.g. gmm,ctgan")
    parser.add_argument("--rows", type=int, help="rows (time series: sequences) to generate")
    parser.add_argument("--seed", type=int, help="seed for split, fit and sampling")
    parser.add_argument("--target", help="column for the ML-utility metric")
    parser.add_argument("--sequence-key", help="time series: the entity column")
    parser.add_argument("--sequence-index", help="time series: the time/order column")
    parser.add_argument("--output-dir", help="where models and published data go (data)")
    parser.add_argument("--condition", action="append", default=[], metavar="COLUMN=VALUE",
                        help="sample on demand only rows with this value (repeatable)")
    parser.add_argument("--rebalance", metavar="COLUMN",
                        help="sample on demand with equal shares of this column's values")
    parser.add_argument("--dask", dest="dask_address", metavar="ADDRESS",
                        help="run fits and shards on an existing Dask cluster (tcp://host:8786)")
    parser.add_argument("--processes", type=int, metavar="N",
                        help="local processes that sample and write shards (default 1: "
                        "threads of this process)")


def _traceback_file() -> Path:
    """The current exception's traceback, written to a file of its own."""
    import tempfile
    import traceback

    handle, name = tempfile.mkstemp(prefix="synth-error-", suffix=".txt")
    with os.fdopen(handle, "w") as out:
        out.write(traceback.format_exc())
    return Path(name)


def apply_env_defaults() -> None:
    """Set ENV_DEFAULTS where the environment does not say otherwise."""
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def main(argv: list[str] | None = None) -> int:
    apply_env_defaults()
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except PipelineError as exc:
        summary = getattr(exc, "summary", None)
        if summary:
            from pipeline.printouts import print_summary

            print_summary(summary)
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return EXIT_VALIDATION_FAILED
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        # transient I/O errors were retried by the flow; this one persisted
        print(f"error: {exc} (after retries; check the source or the network)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        if NO_SERVER not in str(exc):
            return _internal_error(exc)
        print(f"error: {exc} Prefect's temporary server did not start (its log is above): "
              "check that PREFECT_HOME is a writable folder, raise "
              "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS on a slow machine, or set "
              "PREFECT_API_URL to a running server.", file=sys.stderr)
        return 1
    except Exception as exc:
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    """A bug of ours: a short message, the traceback kept in a file."""
    print(f"internal error: {type(exc).__name__}: {exc}\nThis is a bug in synth, not a "
          f"problem with your data or settings; the details are in {_traceback_file()}. "
          "Please report it with that file.", file=sys.stderr)
    return EXIT_INTERNAL_ERROR


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now, so `main()` can be called again in one process
    (tests, notebooks) after the stream it first saw was closed."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


class _HideUserErrorTraceback(logging.Filter):
    """Prefect logs a traceback for every failed run; for a user's mistake the message
    already says what to fix, and a traceback would bury it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PipelineError):
            record.exc_info = None
            record.exc_text = None
        return True


def configure_logging(verbose: bool) -> None:
    """Our progress lines at INFO; libraries (httpx, GE, SDV) only when they warn."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for run_logger in ("prefect.task_runs", "prefect.flow_runs"):
        logger = logging.getLogger(run_logger)
        if not any(isinstance(f, _HideUserErrorTraceback) for f in logger.filters):
            logger.addFilter(_HideUserErrorTraceback())
    logging.getLogger("pipeline").setLevel(logging.DEBUG if verbose else logging.INFO)


def cmd_run(args: argparse.Namespace) -> int:
    return run_job(job_from_args(args))


def job_from_args(args: argparse.Namespace):
    """The job `synth run` runs: its job file, if given, with the options laid over it."""
    from pipeline.config import JobConfig

    overrides = {
        "source": args.source,
        "name": args.name,
        "models": args.model,
        "rows": args.rows,
        "seed": args.seed,
        "target": args.target,
        "sequence_key": args.sequence_key,
        "sequence_index": args.sequence_index,
        "output_dir": args.output_dir,
        "conditions": parse_conditions(args.condition) or None,
        "rebalance": args.rebalance,
        "dask_address": args.dask_address,
        "processes": args.processes,
    }
    if args.job_file:
        return JobConfig.from_yaml(args.job_file, **overrides)
    missing = [f"--{k}" for k in ("source", "name") if not overrides[k]]
    if missing:
        raise PipelineError(f"give {' and '.join(missing)}, or a job file: synth run JOB.yaml")
    return JobConfig.parse({k: v for k, v in overrides.items() if v is not None}, where="options")


def parse_conditions(pairs: list[str]) -> dict[str, str]:
    """`--condition sex=Female` pairs; values stay text and are matched to the schema's."""
    out = {}
    for pair in pairs:
        column, sep, value = pair.partition("=")
        if not sep or not column.strip():
            raise PipelineError(f"--condition {pair!r}: write it as COLUMN=VALUE, e.g. "
                                "sex=Female")
        out[column.strip()] = value.strip()
    return out


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.config import JobConfig

    name, resource, extra = DEMOS["timeseries" if args.timeseries else "table"]
    source = write_demo_data(Path(args.output_dir), name, resource)
    values: dict[str, Any] = {"name": name, "source": str(source),
                              "output_dir": args.output_dir, **extra}
    if args.model:
        values["models"] = args.model
    return run_job(JobConfig.parse(values, where="demo"))


def write_demo_data(output_dir: Path, name: str = DEMO_NAME,
                    resource: str = DEMO_RESOURCE) -> Path:
    """Copy a demo table that ships inside sdmetrics into data/demo/ (no network)."""
    from importlib.resources import files

    target = output_dir / "demo" / f"{name}.csv"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files("sdmetrics").joinpath(resource).read_bytes())
    return target


def check_prefect_home() -> None:
    """Prefect's temporary server keeps its database in PREFECT_HOME; one it cannot write
    fails after a long start-up with pages of server tracebacks, so refuse it first."""
    if os.environ.get("PREFECT_API_URL"):
        return
    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    with contextlib.suppress(OSError):  # Prefect itself creates the home without parents
        home.mkdir(parents=True, exist_ok=True)
    if not (home.is_dir() and os.access(home, os.W_OK | os.X_OK)):
        raise PipelineError(
            f"PREFECT_HOME {home} is not a writable folder, and Prefect's temporary server "
            "keeps its database there: point PREFECT_HOME at a folder you can write, or set "
            "PREFECT_API_URL to a running Prefect server"
        )


def run_job(job) -> int:
    check_prefect_home()
    check_local_source(job.source)
    from flows.synthesize import synthesize

    summary = synthesize(job)
    from pipeline.printouts import print_summary

    print_summary(summary)
    return 0


def check_local_source(source: str) -> None:
    """Fail at once on a missing local file, before paying for Prefect's server start."""
    if "://" in source and not source.startswith("file://"):
        return
    path = Path(source.removeprefix("file://"))
    if not path.exists():
        raise PipelineError(f"source {source} does not exist; check the path or URL")
    if path.is_dir():
        raise PipelineError(f"source {source} is a directory; give one CSV or Parquet file")


def cmd_validate(args: argparse.Namespace) -> int:
    from pipeline.names import check_dataset_name

    check_dataset_name(args.name, where="--name")
    from pipeline.audit import audit

    outcome = audit(
        real=args.real,
        synthetic=args.synthetic,
        name=args.name,
        holdout=args.holdout,
        target=args.target,
        seed=args.seed,
        output_dir=args.output_dir,
    )
    print(f"verdict: {outcome['verdict'].upper()}")
    for reason in outcome["reasons"]:
        print(f"  - {reason}")
    print(f"report: {outcome['report']}")
    return EXIT_VALIDATION_FAILED if outcome["verdict"] == "fail" else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.deployments import serve_jobs

    serve_jobs(args.job_files or None)
    return 0


def cmd_deployments(args: argparse.Namespace) -> int:
    from flows.deployments import prefect_yaml
    from pipeline.publish import write_text_atomic

    text = prefect_yaml(args.job_files or None)
    if args.write:
        write_text_atomic(Path("prefect.yaml"), text)
        print("wrote prefect.yaml")
    else:
        print(text, end="")
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    from flows.deployments import parse_params, trigger

    flow_run = trigger(args.name, parse_params(args.param), wait=not args.no_wait)
    state = flow_run.state
    print(f"flow run {flow_run.name} ({flow_run.id}): {state.name if state else 'scheduled'}")
    if state is not None and state.is_failed():
        print(f"FAILED: {state.message}", file=sys.stderr)
        return EXIT_VALIDATION_FAILED
    return 0


def cmd_many(args: argparse.Namespace) -> int:
    from flows.synthesize import synthesize_many

    for path in args.job_files:
        check_job_file(path)
    from pipeline.printouts import print_summary

    for summary in synthesize_many(args.job_files):
        print_summary(summary)
    return 0


def check_job_file(path: str) -> None:
    from pipeline.config import JobConfig

    check_local_source(JobConfig.from_yaml(path).source)


def cmd_runs(args: argparse.Namespace) -> int:
    from pipeline.printouts import print_runs

    print_runs(args.output_dir, args.name)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from pipeline.printouts import print_run

    print_run(args.output_dir, args.run_id)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from pipeline.models.params import describe
    from pipeline.models.registry import MODELS

    for name, entry in MODELS.items():
        kinds = ", ".join(k for k, ok in (("tabular", entry.tabular),
                                          ("time series", entry.time_series)) if ok)
        print(f"{name:16} {kinds:12} {entry.summary}")
        if args.params:
            for param, default, help_text in describe(entry.params):
                print(f"    {param:22} {default:8} {help_text}")
    return 0


COMMANDS = {
    "run": cmd_run, "demo": cmd_demo, "validate": cmd_validate, "serve": cmd_serve,
    "deployments": cmd_deployments, "trigger": cmd_trigger, "many": cmd_many,
    "models": cmd_models, "runs": cmd_runs, "show": cmd_show,
}

if __name__ == "__main__":
    sys.exit(main())
