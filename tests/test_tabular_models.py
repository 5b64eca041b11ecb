"""Every tabular model but the gmm (which has tests/test_gmm.py) behind the Synthesizer
interface: our CTGAN and TVAE, SDV's CTGAN, TVAE and GaussianCopula, on real data. What only
our networks have (their parts, early stopping) is in tests/test_neural_models.py.

Fits are tiny (a few epochs, small layers) so the file runs in about a minute on 2 cores; the
full-size figures live in benchmarks/neural.py's and benchmarks/sdv_models_quality.py's results.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import math
import os
import select
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sdmetrics
from pandas.testing import assert_frame_equal

from pipeline.errors import PipelineError
from pipeline.models.base import Synthesizer
from pipeline.models.progress import EpochProgress, watch_epochs
from pipeline.models.rare_categories import (
    MAX_ENCODED_COLUMNS,
    encoded_widths,
    plan_rare_categories,
)
from pipeline.models.registry import create
from pipeline.models.sdv_tabular import CPU_DEFAULT_EPOCHS, GPU_DEFAULT_EPOCHS, to_sdv_frame
from pipeline.schema import Role, detect_schema, enforce_schema
from tests.conftest import output_dtypes

STUDENTS = Path(sdmetrics.__file__).parent / "demos/single_table/student_placements_real.csv"
ADULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adult.csv"
EPOCHS = 3
SMALL_NETWORKS = {
    "ctgan": dict(epochs=EPOCHS, batch_size=50, embedding_dim=16, generator_dim=[32, 32],
                  discriminator_dim=[32, 32]),
    "tvae": dict(epochs=EPOCHS, batch_size=50, embedding_dim=16, compress_dims=[32, 32],
                 decompress_dims=[32, 32]),
}
FAST = {
    **SMALL_NETWORKS,
    "sdv_ctgan": dict(
        epochs=EPOCHS, batch_size=50, embedding_dim=16,
        generator_dim=[32, 32], discriminator_dim=[32, 32],
    ),
    "sdv_tvae": dict(
        epochs=EPOCHS, batch_size=50, embedding_dim=16,
        compress_dims=[32, 32], decompress_dims=[32, 32],
    ),
    "gaussian_copula": {},
}
NEURAL = ["sdv_ctgan", "sdv_tvae"]  # SDV's networks under our wrapper
NETWORKS = [*SMALL_NETWORKS, *NEURAL]
ALL = list(FAST)
LOSS_KEYS = {"sdv_ctgan": {"generator_loss", "discriminator_loss"}, "sdv_tvae": {"loss"}}
SDV_LOG = "pipeline.models.sdv_tabular"


@pytest.fixture(scope="module")
def students():
    df = pd.read_csv(STUDENTS)
    for column in ("start_date", "end_date"):
        df[column] = pd.to_datetime(df[column])
    return df, detect_schema(df, "students")


@pytest.fixture(scope="module")
def fitted(students):
    df, schema = students
    return {name: create(name, **params).fit(df, schema, seed=7) for name, params in FAST.items()}


# --- reproducibility and persistence -----------------------------------------------------------
def test_shards_sampled_on_threads_of_one_process_match_sequential_ones(fitted, students):
    """SDV draws from numpy's global generator: shards sampled at once on threads (the
    flow's local runner), beside another model reseeding it, must not interleave their
    draws, or a seed stops naming the rows."""
    from concurrent.futures import ThreadPoolExecutor

    model, gmm = fitted["gaussian_copula"], create("gmm", max_components=4).fit(
        *students, seed=0)
    seeds = list(range(11, 19))
    alone = [model.sample(400, seed=s) for s in seeds]
    with ThreadPoolExecutor(4) as pool:
        reseeding = [pool.submit(gmm.sample, 2000, seed=s) for s in seeds]
        together = list(pool.map(lambda s: model.sample(400, seed=s), seeds))
        assert all(f.result().equals(gmm.sample(2000, seed=s))
                   for f, s in zip(reseeding, seeds))
    assert all(a.equals(b) for a, b in zip(alone, together))


@pytest.mark.parametrize("name", ALL)
def test_same_data_and_seed_give_identical_samples(name, students, fitted):
    df, schema = students
    again = create(name, **FAST[name]).fit(df, schema, seed=7)
    assert_frame_equal(again.sample(300, seed=1), fitted[name].sample(300, seed=1))
    assert again.loss_history == fitted[name].loss_history


FRESH_PROCESS_FIT = """
import sys
import pandas as pd
from pipeline.models.registry import create
from pipeline.schema import detect_schema
assert "torch" not in sys.modules  # the case reproducibility.seed_everything cannot seed
df = pd.read_csv({path!r}, parse_dates=["start_date", "end_date"])
model = create({name!r}, **{params!r}).fit(df, detect_schema(df, "students"), seed=7)
print(pd.util.hash_pandas_object(model.sample(200, seed=1)).sum())
"""


# SDV's CTGAN, the benchmark's yardstick, is checked in make test-all
@pytest.mark.parametrize("name", ["ctgan", pytest.param("sdv_ctgan", marks=pytest.mark.slow)])
def test_a_fresh_process_fits_the_same_model(name, fitted):
    """torch is first imported inside fit there; it must be seeded all the same."""
    root = Path(__file__).resolve().parents[1]
    code = FRESH_PROCESS_FIT.format(path=str(STUDENTS), name=name, params=FAST[name])
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
    )
    expected = pd.util.hash_pandas_object(fitted[name].sample(200, seed=1)).sum()
    assert run.stdout.strip().splitlines()[-1] == str(expected)


@pytest.mark.parametrize("name", ALL)
def test_other_sample_seed_gives_other_rows(name, fitted):
    model = fitted[name]
    first, other = model.sample(300, seed=1), model.sample(300, seed=2)
    # sampling leaves no state behind: the same seed repeats itself
    assert_frame_equal(model.sample(300, seed=1), first)
    assert (first["degree_perc"] != other["degree_perc"]).mean() > 0.9
    # missing values too: SDV would put them on the same rows for every seed
    assert (first["salary"].isna() != other["salary"].isna()).any()


@pytest.mark.parametrize("name", ALL)
def test_loaded_model_samples_what_the_fitted_one_does(name, fitted, tmp_path):
    model = fitted[name]
    expected = model.sample(500, seed=11)
    model.save(tmp_path)
    loaded = Synthesizer.load(tmp_path)
    assert_frame_equal(loaded.sample(500, seed=11), expected)
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["model"] == name
    assert len(card["loss_history"]) == (EPOCHS if name in NETWORKS else 0)


# --- output ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NETWORKS)
def test_conditional_sampling_gives_exactly_n_matching_rows(name, fitted):
    out = fitted[name].sample(120, seed=3, conditions={"gender": "F"})
    assert len(out) == 120
    assert (out["gender"] == "F").all()


@pytest.mark.parametrize("name", ALL)
def test_conditions_on_a_column_a_dependency_rewrites_are_met(name, fitted):
    """work_experience is rewritten from experience_years after sampling: the rejection must
    judge the value the output will hold, not the model's own."""
    out = fitted[name].sample(50, seed=3, conditions={"gender": "M", "work_experience": True})
    assert len(out) == 50 and (out["gender"] == "M").all() and out["work_experience"].all()


@pytest.mark.parametrize("name", ALL)
def test_output_follows_the_schema(name, students, fitted):
    df, schema = students
    out = fitted[name].sample(400, seed=5)
    assert list(out.columns) == schema.names()
    modelled = schema.modelled_columns()
    assert out[modelled].dtypes.to_dict() == output_dtypes(enforce_schema(df, schema), schema,
                                                          modelled)
    assert_values_within_schema(out, schema)
    assert out["student_id"].is_unique


@pytest.mark.parametrize("name", NETWORKS)
def test_adult_output_keeps_categories_bounds_and_dependency(name):
    df = pd.read_csv(ADULT, skipinitialspace=True, na_values=["?"]).sample(1500, random_state=0)
    schema = detect_schema(df, "adult")
    small = {**FAST[name], "epochs": 2, "batch_size": 100}
    out = create(name, **small).fit(df, schema, seed=1).sample(600, seed=2)
    assert len(out) == 600
    assert_values_within_schema(out, schema)
    (dependency,) = [d for d in schema.dependencies if d.source == "education"]
    mapped = out["education"].astype(str).map(dependency.mapping).astype("Int64")
    assert (mapped == out["education-num"]).all()


def assert_values_within_schema(out: pd.DataFrame, schema) -> None:
    for spec in schema.columns:
        values = out[spec.name].dropna()
        if spec.role == Role.categorical:
            assert set(values.astype(str)) <= {str(c) for c in spec.categories}, spec.name
        elif spec.role == Role.numerical:
            assert values.min() >= spec.minimum and values.max() <= spec.maximum, spec.name


# --- progress and loss -------------------------------------------------------------------------
@pytest.mark.parametrize("name", NEURAL)
def test_loss_history_has_one_entry_per_epoch_and_each_epoch_is_logged(name, students, caplog):
    df, schema = students
    with caplog.at_level(logging.INFO, logger=SDV_LOG):
        model = create(name, **FAST[name]).fit(df, schema, seed=7)
    messages = [r.getMessage() for r in caplog.records if r.name == SDV_LOG]
    lines = [m for m in messages if " epoch " in m]
    assert [line.split()[2] for line in lines] == [f"{i}/{EPOCHS}" for i in range(1, EPOCHS + 1)]
    assert [entry["epoch"] for entry in model.loss_history] == list(range(1, EPOCHS + 1))
    for entry in model.loss_history:
        assert set(entry) == {"epoch"} | LOSS_KEYS[name]
        assert all(math.isfinite(entry[k]) for k in LOSS_KEYS[name])
        assert all(k in lines[entry["epoch"] - 1] for k in LOSS_KEYS[name])
    # what we saw live agrees with the losses ctgan kept for the whole fit
    assert model._losses_after_fit() == model.loss_history
    assert model.card()["loss_history"] == model.loss_history


def test_progress_bar_is_drawn_on_a_terminal_only():
    plain = io.StringIO()
    with EpochProgress("ctgan", 3, stream=plain) as progress:
        for _ in range(3):
            progress.epoch_done({"loss": 1.0})
    assert plain.getvalue() == ""
    assert [e["epoch"] for e in progress.history] == [1, 2, 3]

    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    with os.fdopen(terminal, "w") as stream, EpochProgress("ctgan", 3, stream=stream) as bar:
        for _ in range(3):
            bar.epoch_done({"loss": 1.0})
    drawn = _read_available(controller)
    os.close(controller)
    assert "ctgan" in drawn and "3/3" in drawn and "<" in drawn  # elapsed<remaining: the ETA


def _read_available(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_watch_epochs_changes_only_the_watching_thread():
    import ctgan.synthesizers.ctgan as ctgan_module
    from tqdm import tqdm

    seen: list[int] = []
    other_thread: list[object] = []
    with watch_epochs(ctgan_module, seen.append) as watching:
        assert watching
        for _ in ctgan_module.tqdm(range(3), disable=True):
            pass
        worker = threading.Thread(
            target=lambda: other_thread.append(ctgan_module.tqdm(range(2), disable=True))
        )
        worker.start()
        worker.join()
    assert seen == [0, 1, 2]
    assert isinstance(other_thread[0], tqdm)
    assert isinstance(ctgan_module.tqdm(range(2), disable=True), tqdm)


# --- parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sdv_ctgan", {"epoch": 3}, "allowed"),
        ("sdv_tvae", {"generator_lr": 1e-3}, "allowed"),
        ("gaussian_copula", {"epochs": 3}, "allowed"),
        ("sdv_ctgan", {"batch_size": 55}, "multiple of 2"),
        ("sdv_ctgan", {"batch_size": 64}, "multiple of pac"),
        ("sdv_tvae", {"epochs": 0}, "epochs=0 is invalid: Input should be greater than or "
         "equal to 1"),
        ("sdv_tvae", {"compress_dims": "128"}, "valid list"),
        ("sdv_ctgan", {"generator_lr": -1}, "greater than or equal to 0"),
        ("sdv_ctgan", {"cuda": "yes"}, "valid boolean"),
    ],
)
def test_bad_parameters_are_refused(name, params, message):
    with pytest.raises(PipelineError, match=message) as refused:
        create(name, **params)
    if message == "allowed":
        assert "epochs" in str(refused.value) or "default_distribution" in str(refused.value)


def test_cuda_is_used_when_available_and_never_required(caplog):
    import torch

    available = torch.cuda.is_available()
    default = create("sdv_ctgan")._sdv_params()
    assert default["enable_gpu"] is available
    cpu_epochs = CPU_DEFAULT_EPOCHS["sdv_ctgan"]
    assert default["epochs"] == (GPU_DEFAULT_EPOCHS if available else cpu_epochs)
    assert create("sdv_tvae", cuda=False)._sdv_params()["enable_gpu"] is False
    with caplog.at_level(logging.WARNING, logger=SDV_LOG):
        assert create("sdv_tvae", cuda=True)._sdv_params()["enable_gpu"] is available
    assert available or "no CUDA device" in caplog.text


# --- high-cardinality guard --------------------------------------------------------------------
@pytest.fixture(scope="module")
def wide():
    """4,500 rows with a 3,000-category code (Zipf frequencies) the user marked categorical."""
    rng = np.random.default_rng(0)
    n_codes = 3000
    weights = 1 / np.arange(1, n_codes + 1)
    extra = rng.choice(n_codes, 1500, p=weights / weights.sum())
    index = np.concatenate([np.arange(n_codes), extra])
    rng.shuffle(index)
    df = pd.DataFrame({
        "code": [f"c{i:04d}" for i in index],
        "amount": index * 0.5 + rng.normal(0, 10, len(index)),
        "kind": rng.choice(["a", "b", "c"], len(index)),
    })
    schema = detect_schema(df, "wide")
    assert schema.column("code").role == Role.text  # detection never models it ...
    spec = schema.column("code")  # ... but a user may edit the schema to categorical
    spec.role, spec.categories = Role.categorical, sorted(df["code"].unique())
    return df, schema


def test_fold_plan_fits_the_default_limit_and_keeps_frequent_categories(wide):
    df, schema = wide
    frame = to_sdv_frame(df, schema)
    assert sum(encoded_widths(frame, schema).values()) > MAX_ENCODED_COLUMNS
    plan = plan_rare_categories(frame, schema, MAX_ENCODED_COLUMNS, "sdv_ctgan")
    width = sum(encoded_widths(plan.encode(frame), schema).values())
    assert MAX_ENCODED_COLUMNS - 5 <= width <= MAX_ENCODED_COLUMNS
    folded, probabilities = plan.folded["code"]
    assert not set(df["code"].value_counts().index[:50]) & set(folded)
    assert set(folded) <= set(schema.column("code").categories)
    assert math.isclose(sum(probabilities), 1.0)
    assert list(plan.folded) == ["code"]


def test_wide_categorical_is_folded_for_fitting_and_output_holds_real_categories(wide, caplog):
    df, schema = wide
    params = dict(
        epochs=1, batch_size=500, embedding_dim=16, generator_dim=[32],
        discriminator_dim=[32], max_encoded_columns=200,
    )
    with caplog.at_level(logging.WARNING, logger=SDV_LOG):
        model = create("sdv_ctgan", **params).fit(df, schema, seed=0)
    assert "'code'" in caplog.text and "max_encoded_columns=200" in caplog.text
    assert model._model._model._transformer.output_dimensions <= 200  # what ctgan really built
    out = model.sample(2000, seed=1)
    kept = set(df["code"]) - set(model._rare.folded["code"][0])
    assert out["code"].isin(schema.column("code").categories).all()
    assert (~out["code"].isin(kept)).sum() > 0  # folded categories come back, drawn by frequency
    assert model.card()["folded_categories"]["code"] == len(model._rare.folded["code"][0])


def test_table_too_wide_even_after_folding_is_refused(wide):
    df, schema = wide
    with pytest.raises(PipelineError, match="role: text") as refused:
        create("sdv_tvae", epochs=1, max_encoded_columns=20).fit(df, schema, seed=0)
    assert "'code'" in str(refused.value)


def test_a_more_private_retry_halves_the_epochs_of_a_network(fitted):
    for name in NEURAL:
        epochs = fitted[name].card()["resolved_parameters"]["epochs"]
        retry = fitted[name].more_private_params()
        assert retry["epochs"] == epochs // 2 and retry["protect_rare"] == 5, name
        create(name, **retry)  # valid parameters for the same model
    # the copula has no setting of its own: only its value protection is tightened
    assert fitted["gaussian_copula"].more_private_params() == {"protect_rare": 5}
