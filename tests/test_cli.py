"""The `synth` command as a user runs it: a real process, its exit code and its output."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import cli

SYNTH = [sys.executable, "-m", "pipeline.cli"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*SYNTH, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def heavy_modules_after(code: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of `heavy` a fresh interpreter has imported after running `code`."""
    probe = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint([m for m in {heavy!r} "
         "if m in sys.modules])"], capture_output=True, text=True, check=True)
    return ast.literal_eval(probe.stdout.strip())


def test_help_answers_fast_without_heavy_imports(tmp_path):
    started = time.perf_counter()
    result = run("--help", cwd=tmp_path)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0 and "run" in result.stdout and "validate" in result.stdout
    assert heavy_modules_after("import pipeline.cli; pipeline.cli.build_parser()",
                               ("torch", "sdv", "great_expectations", "prefect")) == []
    # reported, not asserted: wall time depends on the machine's load
    print(f"synth --help took {elapsed:.2f} s")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--source", "missing.csv", "--name", "x"], "source missing.csv does not exist"),
        (["run", "--source", "data.csv"], "give --name"),
        (["run", "--source", "data.csv", "--name", "bad name"], "name: use letters"),
        (["run", "--source", "data.csv", "--name", "x", "--model", "gpt"],
         "unknown model(s) ['gpt']"),
        (["run", "nojob.yaml"], "job file nojob.yaml does not exist"),
        (["run", "--source", ".", "--name", "x"], "is a directory"),
        (["run", "--source", "data.csv", "--name", "x", "--sequence-key", "a"],
         "sequence_key 'a' was given without a sequence_index"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0  # exactly one line


def test_models_lists_every_registered_name(tmp_path):
    result = run("models", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("gmm", "ctgan", "tvae", "sdv_ctgan", "sdv_tvae", "gaussian_copula", "hmm", "par"):
        assert name in result.stdout


def test_models_params_lists_each_parameter_with_its_default(tmp_path):
    result = run("models", "--params", cwd=tmp_path)
    assert result.returncode == 0
    line = next(ln for ln in result.stdout.splitlines() if ln.split()[:1] == ["max_states"])
    assert line.split()[1] == "16"  # hmm's default, read from its parameter model


def test_job_refuses_bad_model_parameters_before_anything_runs():
    from pipeline.config import JobConfig
    from pipeline.errors import PipelineError

    with pytest.raises(PipelineError, match="ctgan: unknown parameter 'epoch'"):
        JobConfig.parse({"name": "x", "source": "x.csv", "model_params": {"ctgan": {"epoch": 3}}})
    # validating a job imports no model module (torch and sdv stay out of start-up)
    assert heavy_modules_after(
        "from pipeline.config import JobConfig\nJobConfig.parse({'name': 'x', 'source': "
        "'x.csv', 'model_params': {'tvae': {'epochs': 3}}})", ("torch", "sdv")) == []


def test_a_bug_of_ours_prints_one_line_and_keeps_the_traceback_in_a_file(monkeypatch, capsys):
    def broken(args):
        raise KeyError(0)  # what pandas raised for a single series before it was mended

    monkeypatch.setitem(cli.COMMANDS, "models", broken)
    assert cli.main(["models"]) == cli.EXIT_INTERNAL_ERROR
    err = capsys.readouterr().err
    assert err.startswith("internal error: KeyError: 0") and "Traceback" not in err
    kept = Path(err.split("the details are in ")[1].split(". Please")[0])
    assert "Traceback" in kept.read_text() and "broken" in kept.read_text()
    kept.unlink()


def test_a_score_with_nothing_to_compare_prints_a_dash_and_why(capsys):
    """A table with no related column pair has no pair-trends score: the summary says so
    instead of printing 'nan'."""
    from pipeline.printouts import print_summary

    model = {"model": "gmm", "verdict": "pass", "reused_model": False, "rows": 224,
             "metrics": {"column_shapes": 0.943, "column_pair_trends": float("nan")},
             "reasons": [], "path": "out", "parts": ["p"], "validated_rows": 224,
             "manifest": "m", "report": "r"}
    print_summary({"dataset": "d", "run_id": "x", "source": "s", "ingest": "i",
                   "schema": "y", "split": "z", "models": [model]})
    out = capsys.readouterr().out
    assert "column shapes 0.943, pair trends – (no column pair to compare)" in out
    assert "nan" not in out


def test_every_run_option_reaches_the_job(tmp_path):
    """`synth run --dask ADDRESS` was parsed and then dropped: the run went on local threads."""
    args = cli.build_parser().parse_args([
        "run", "--source", "a.csv", "--name", "a", "--dask", "tcp://scheduler:8786",
        "--processes", "3", "--rows", "10", "--seed", "4"])
    job = cli.job_from_args(args)
    assert (job.dask_address, job.processes, job.rows, job.seed) == (
        "tcp://scheduler:8786", 3, 10, 4)
    job_file = tmp_path / "job.yaml"
    job_file.write_text("name: b\nsource: b.csv\nprocesses: 1\n")
    args = cli.build_parser().parse_args(["run", str(job_file), "--dask", "tcp://h:8786"])
    job = cli.job_from_args(args)
    assert (job.name, job.dask_address, job.processes) == ("b", "tcp://h:8786", 1)
    # every option of `synth run` is a setting of the job
    options = {a.dest for a in cli.build_parser()._subparsers._group_actions[0]
               .choices["run"]._actions} - {"help", "job_file", "condition", "model"}
    assert options <= set(type(job).model_fields), options - set(type(job).model_fields)
