"""Our CTGAN and TVAE (pipeline/models/neural): their parts on real data, and the model
contract (reproducible fits, save/load, conditions, formats, early stopping, budget).

Fits are tiny (a few epochs, small layers); the full-size figures are in
benchmarks/neural.py's results.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pandas.testing import assert_frame_equal

from pipeline.errors import PipelineError
from pipeline.models.base import Synthesizer
from pipeline.models.neural.conditions import ConditionSampler
from pipeline.models.neural.encoding import build_encoding
from pipeline.models.neural.modes import fit_modes
from pipeline.models.neural.monitor import MIN_GAIN, EarlyStopping, FidelityProbe
from pipeline.models.neural.segments import Segments
from pipeline.models.registry import create
from pipeline.schema import Role, detect_schema, enforce_schema
from tests.test_tabular_models import ADULT, EPOCHS, STUDENTS
from tests.test_tabular_models import SMALL_NETWORKS as FAST

NEURAL = list(FAST)
LOSS_KEYS = {"ctgan": {"generator_loss", "discriminator_loss"}, "tvae": {"loss"}}
LOG = "pipeline.models.neural.synthesizer"


@pytest.fixture(scope="module")
def adult():
    df = pd.read_csv(ADULT, skipinitialspace=True, na_values=["?"]).sample(3000, random_state=0)
    df = df.reset_index(drop=True)
    schema = detect_schema(df, "adult")
    return enforce_schema(df, schema), schema


@pytest.fixture(scope="module")
def encoded(adult):
    """Adult's modelled columns encoded: (frame, encoding, matrix, choices)."""
    df, schema = adult
    frame = df[schema.modelled_columns()]
    rng = np.random.default_rng(0)
    encoding = build_encoding(frame, schema, [], rng, 10)
    return (frame, encoding, *encoding.encode(frame, rng))


@pytest.fixture(scope="module")
def students():
    df = pd.read_csv(STUDENTS, parse_dates=["start_date", "end_date"])
    return df, detect_schema(df, "students")


@pytest.fixture(scope="module")
def fitted(students):
    df, schema = students
    return {name: create(name, **params).fit(df, schema, seed=7) for name, params in FAST.items()}


# --- the parts ---------------------------------------------------------------------------------
def test_one_em_for_all_columns_fits_each_as_well_as_scikit_learn(adult):
    """The vectorised EM's modes explain each spread-out numeric column about as well as a
    per-column scikit-learn mixture with as many components (held-out log-likelihood per
    value), and a point mass (hours-per-week's 40) gets a point-like mode of its own."""
    from sklearn.mixture import GaussianMixture

    df, _ = adult
    columns = ["age", "fnlwgt", "hours-per-week"]
    values = df[columns].to_numpy(dtype=float)
    fit_part, test_part = values[:2000], values[2000:]
    modes = fit_modes(fit_part, np.random.default_rng(0))
    for j, name in enumerate(columns[:2]):
        k = int(modes.counts[j])
        w, m, s = modes.weights[j, :k], modes.means[j, :k], modes.stds[j, :k]
        x = test_part[:, j][:, None]
        ours = np.log((w * np.exp(-0.5 * ((x - m) / s) ** 2) / (s * np.sqrt(2 * np.pi)))
                      .sum(axis=1)).mean()
        theirs = GaussianMixture(k, random_state=0).fit(fit_part[:, [j]]).score(test_part[:, [j]])
        assert ours >= theirs - 0.05, (name, ours, theirs)
    spike = np.isclose(modes.means[2], 40.0) & (modes.stds[2] < 0.1)
    assert spike.sum() == 1 and modes.weights[2][spike][0] > 0.4
    assert (modes.weights[modes.weights > 0] >= 0.005 - 1e-12).all()


def test_encoding_round_trips_values_labels_and_missing(encoded):
    df, encoding, matrix, choices = encoded
    assert matrix.dtype == np.float32 and matrix.shape == (len(df), encoding.width)
    # every block is one-hot and every alpha inside tanh's range
    block_sums = [matrix[:, s:s + w].sum(axis=1) for s, w in
                  zip(encoding.block_start, encoding.block_width)]
    assert np.allclose(block_sums, 1.0)
    assert np.abs(matrix[:, :encoding.n_numeric]).max() < 1
    decoded = encoding.decode(matrix[:, :encoding.n_numeric], choices)
    for spec in encoding.numeric:
        real = df[spec.column].to_numpy(dtype=float)
        back = decoded[spec.column].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(real), np.isnan(back)), spec.column
        # alpha is clipped at 4 deviations of its mode: every other value comes back
        inside = ~np.isnan(real) & (np.abs(matrix[:, encoding.numeric.index(spec)]) < 0.99)
        assert inside.mean() > 0.95
        assert np.allclose(back[inside], real[inside], rtol=1e-4, atol=1e-3), spec.column
    for codec in encoding.categorical:
        back, real = decoded[codec.column].astype(object), df[codec.column].astype(object)
        assert (back.isna() == real.isna()).all(), codec.column
        assert (back.dropna().astype(str) == real.dropna().astype(str)).all(), codec.column
    assert df["workclass"].isna().any()  # the missing slot is exercised


def test_block_softmax_and_draw_match_per_block_torch(encoded):
    encoding = encoded[1]
    segments = Segments(encoding, torch.device("cpu"))
    logits = torch.randn(64, encoding.width - encoding.n_numeric, generator=torch.Generator()
                         .manual_seed(0)) * 3
    ours = segments.log_softmax(logits)
    starts = encoding.block_start - encoding.n_numeric
    for start, width in zip(starts, encoding.block_width):
        block = logits[:, start:start + width]
        assert torch.allclose(ours[:, start:start + width], torch.log_softmax(block, dim=1),
                              atol=1e-5)
    # a block whose logits strongly favour one slot draws that slot
    logits[:, starts[0] + 1] += 100.0
    drawn = segments.draw(logits, torch.Generator().manual_seed(1))
    assert drawn.shape == (64, encoding.n_blocks) and (drawn[:, 0] == 1).all()
    assert ((drawn >= 0) & (drawn < encoding.block_width[None])).all()


def test_training_by_sampling_shows_rows_holding_the_drawn_label(encoded):
    _, encoding, _, choices = encoded
    rng = np.random.default_rng(0)
    sampler = ConditionSampler.build(encoding, choices, log_frequency=True)
    labels = sampler.draw_labels(20_000, rng, for_training=True)
    rows = sampler.rows_with(labels, rng)
    block = np.searchsorted(sampler.block_offset, labels, side="right") - 1
    slot = labels - sampler.block_offset[block]
    assert (choices[rows, encoding.cond_blocks[block]] == slot).all()
    # log frequency: a rare country is drawn far more often than its share of rows
    country = [c.column for c in encoding.categorical].index("native-country")
    share = (block == country).mean()
    rare = labels[block == country] != sampler.block_offset[country] + np.argmax(
        np.bincount(choices[:, encoding.cond_blocks[country]]))
    assert rare.mean() > 0.5 and 0.5 / len(encoding.categorical) < share


def test_fidelity_probe_ranks_real_rows_over_shuffled_ones(encoded):
    _, encoding, matrix, choices = encoded
    rng = np.random.default_rng(0)
    a = encoding.n_numeric
    probe = FidelityProbe.fit(encoding.decode_arrays(matrix[:1500, :a], choices[:1500]), a, rng)
    real = probe.score(encoding.decode_arrays(matrix[1500:, :a], choices[1500:]), a)
    shuffled = matrix[1500:].copy(), choices[1500:].copy()
    for j in range(encoding.n_blocks):  # each column on its own: marginals kept, pairs broken
        order = rng.permutation(len(shuffled[0]))
        if j < a:
            shuffled[0][:, j] = shuffled[0][order, j]
        shuffled[1][:, j] = shuffled[1][order, j]
    broken = probe.score(encoding.decode_arrays(shuffled[0][:, :a], shuffled[1]), a)
    assert real > 0.9 and real > broken + 0.015


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience():
    stopper = EarlyStopping(patience=2, max_minutes=None)
    for epoch, score in [(1, 0.5), (2, 0.7), (3, 0.6), (4, 0.65)]:
        stopper.record(epoch, score, {"w": np.array([epoch])})
        stopped = stopper.should_stop(epoch)
    assert stopped and stopper.best_epoch == 2 and stopper.best_state["w"][0] == 2
    assert stopper.stopped_by == "early stopping"
    # not before its least number of epochs, whatever the checks say
    early = EarlyStopping(patience=2, max_minutes=None, min_epochs=10)
    for epoch, score in [(1, 0.7), (2, 0.6), (3, 0.6), (4, 0.6)]:
        early.record(epoch, score, {})
        assert not early.should_stop(epoch)
    assert early.should_stop(10)


def test_a_small_table_gets_the_steps_of_the_papers_300_epochs_on_a_large_one():
    from pipeline.models.neural.synthesizer import MAX_EPOCHS, PAPER_EPOCHS, PAPER_STEPS

    model = create("ctgan")
    assert model._epoch_budget(PAPER_STEPS // PAPER_EPOCHS) == PAPER_EPOCHS
    assert model._epoch_budget(1000) == PAPER_EPOCHS  # a huge table: still 300 passes
    assert model._epoch_budget(10) == PAPER_STEPS // 10
    assert model._epoch_budget(1) == MAX_EPOCHS
    assert create("ctgan", epochs=7)._epoch_budget(1) == 7
    # a table too small to hold rows back for the probe is not trained past 300 epochs
    assert model._epoch_budget(1, held_back=False) == PAPER_EPOCHS


# --- the model contract ------------------------------------------------------------------------
def test_sampled_dates_and_numbers_stay_in_the_training_range(students, fitted):
    df, _ = students
    for name in NEURAL:
        out = fitted[name].sample(2000, seed=5)
        for column in ("start_date", "degree_perc", "salary"):
            values = out[column].dropna()
            assert values.min() >= df[column].min() and values.max() <= df[column].max()


def test_fits_on_parallel_threads_match_sequential_ones(students):
    """No global generator: two fits at once on threads give what each gives alone."""
    df, schema = students

    def fit(seed: int) -> pd.DataFrame:
        return create("ctgan", **FAST["ctgan"]).fit(df, schema, seed=seed).sample(200, seed=1)

    alone = [fit(s) for s in (1, 2)]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(fit, (1, 2)))
    for a, b in zip(alone, together):
        assert_frame_equal(a, b)


@pytest.mark.parametrize("name", NEURAL)
def test_saved_as_plain_arrays_and_loaded_model_samples_the_same(name, fitted, tmp_path):
    model = fitted[name]
    expected = model.sample(500, seed=11)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "model.json", "model.npz"]
    loaded = Synthesizer.load(tmp_path)
    assert_frame_equal(loaded.sample(500, seed=11), expected)
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["model"] == name and len(card["loss_history"]) == EPOCHS
    assert card["training"]["epochs_run"] == EPOCHS
    assert 1 <= card["training"]["chosen_epoch"] <= EPOCHS


@pytest.mark.parametrize("name", NEURAL)
def test_adult_output_keeps_decimals_dependency_and_missing_labels(name, adult):
    df, schema = adult
    out = create(name, **{**FAST[name], "batch_size": 100}).fit(df, schema, seed=1) \
        .sample(1000, seed=2)
    (dependency,) = [d for d in schema.dependencies if d.source == "education"]
    mapped = out["education"].astype(str).map(dependency.mapping).astype("Int64")
    assert (mapped == out["education-num"]).all()
    assert (out["age"].dropna() % 1 == 0).all()  # whole numbers stay whole
    assert out["workclass"].isna().any()  # the missing slot is generated


@pytest.mark.parametrize("name", NEURAL)
def test_a_table_of_numbers_only_trains_without_a_conditional_vector(name):
    """statsmodels' Fair affairs survey has no categorical column: CTGAN has nothing to
    condition on (its sampler once counted one empty block and failed on the first step)."""
    import statsmodels.api as sm

    df = sm.datasets.fair.load_pandas().data.sample(1500, random_state=0).reset_index(drop=True)
    schema = detect_schema(df, "fair")
    df = enforce_schema(df, schema)
    assert not [c for c in schema.columns if c.role in (Role.categorical, Role.boolean)]
    out = create(name, **FAST[name]).fit(df, schema, seed=1).sample(200, seed=2)
    assert list(out.columns) == list(df.columns) and len(out) == 200


@pytest.mark.parametrize("name", NEURAL)
def test_loss_and_fidelity_are_logged_every_epoch_and_kept_on_the_card(name, students, caplog):
    df, schema = students
    with caplog.at_level(logging.INFO):
        model = create(name, **FAST[name], eval_every=1).fit(df, schema, seed=7)
    lines = [r.getMessage() for r in caplog.records if f"{name} epoch " in r.getMessage()]
    assert [line.split()[2] for line in lines] == [f"{i}/{EPOCHS}" for i in range(1, EPOCHS + 1)]
    assert [e["epoch"] for e in model.loss_history] == list(range(1, EPOCHS + 1))
    for entry in model.loss_history:
        assert set(entry) == {"epoch", "fidelity"} | LOSS_KEYS[name]
        assert all(math.isfinite(v) for v in entry.values())
    curve = model.card()["training"]["fidelity_curve"]
    assert [c["epoch"] for c in curve] == list(range(1, EPOCHS + 1))
    best = max(curve, key=lambda c: c["fidelity"])["epoch"]
    assert model.card()["training"]["chosen_epoch"] == best


def test_early_stopping_stops_before_the_last_epoch(students):
    df, schema = students
    model = create("tvae", **{**FAST["tvae"], "epochs": 200, "patience": 2, "eval_every": 1,
                              "min_steps": 0})
    model.fit(df, schema, seed=0)
    training = model.card()["training"]
    assert training["stopped_by"] == "early stopping" and training["epochs_run"] < 200
    scores = [c["fidelity"] for c in training["fidelity_curve"]]
    # neither of the last two checks gained MIN_GAIN over the best before it; the best is kept
    for i in (-2, -1):
        assert scores[i] <= max(scores[:i]) + MIN_GAIN
    best = training["fidelity_curve"][int(np.argmax(scores))]["epoch"]
    assert training["chosen_epoch"] == best


def test_tvae_draws_its_blocks_the_way_that_scores_best_on_held_back_rows(students):
    from pipeline.models.neural.tvae import SAMPLINGS

    df, schema = students
    model = create("tvae", **{**FAST["tvae"], "eval_every": 1}).fit(df, schema, seed=0)
    training = model.card()["training"]
    scores = training["sampling_scores"]
    assert set(scores) == set(SAMPLINGS) and training["sampling"] == max(scores, key=scores.get)
    # the choice is part of the fitted model: a loaded one samples the same way
    assert model.fitted_.shapes["sampling"] == training["sampling"]
    # without a probe (no early stopping, no checks) the softmax is drawn as it is
    plain = create("tvae", **{**FAST["tvae"], "early_stopping": False}).fit(df, schema, seed=0)
    assert plain.fitted_.shapes["sampling"] == "softmax"


def test_a_time_budget_ends_training(students):
    df, schema = students
    model = create("ctgan", **{**FAST["ctgan"], "epochs": 10_000, "max_minutes": 0.02})
    model.fit(df, schema, seed=0)
    assert model.card()["training"]["stopped_by"] == "max_minutes"
    assert model.card()["training"]["epochs_run"] < 10_000


def test_a_more_private_retry_halves_the_epochs_run(fitted):
    for name in NEURAL:
        retry = fitted[name].more_private_params()
        assert retry["epochs"] == EPOCHS // 2 and retry["protect_rare"] == 5, name
        assert retry["early_stopping"] is False
        create(name, **retry)  # valid parameters for the same model


def test_cuda_is_used_when_available_and_never_required(caplog):
    available = torch.cuda.is_available()
    assert create("ctgan")._device().type == ("cuda" if available else "cpu")
    assert create("tvae", cuda=False)._device().type == "cpu"
    with caplog.at_level(logging.WARNING, logger=LOG):
        create("tvae", cuda=True)._device()
    assert available or "no CUDA device" in caplog.text


def test_default_threads_are_the_cores():
    from pipeline.sharding import available_cores

    assert create("ctgan")._threads() == available_cores()
    assert create("ctgan", threads=1)._threads() == 1


def test_wide_categorical_is_folded_and_output_holds_real_categories(caplog):
    rng = np.random.default_rng(0)
    df = pd.read_csv(ADULT, skipinitialspace=True, na_values=["?"]).head(2000)
    # a user marked a 2,000-value code categorical: each row's own label
    df["code"] = [f"c{i:04d}" for i in rng.permutation(len(df))]
    schema = detect_schema(df, "wide")
    spec = schema.column("code")
    spec.role, spec.categories = Role.categorical, sorted(df["code"].unique())
    with caplog.at_level(logging.WARNING):
        model = create("tvae", **{**FAST["tvae"], "max_encoded_columns": 300}).fit(
            df, schema, seed=0)
    assert "'code'" in caplog.text and "max_encoded_columns=300" in caplog.text
    assert model.fitted_.encoding.width <= 300
    out = model.sample(500, seed=1)
    assert out["code"].isin(spec.categories).all()
    assert model.card()["training"]["folded_categories"]["code"] > 0


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("ctgan", {"epoch": 3}, "allowed"),
        ("ctgan", {"batch_size": 64}, "multiple of pac"),
        ("ctgan", {"batch_size": 55}, "multiple of 2"),
        ("tvae", {"epochs": 0}, "greater than or equal to 1"),
        ("tvae", {"max_minutes": 0}, "greater than 0"),
        ("tvae", {"generator_lr": 1e-3}, "allowed"),
    ],
)
def test_bad_parameters_are_refused(name, params, message):
    with pytest.raises(PipelineError, match=message):
        create(name, **params)


def test_too_few_rows_are_refused(students):
    df, schema = students
    with pytest.raises(PipelineError, match="too few"):
        create("ctgan", **FAST["ctgan"]).fit(df.head(1), schema, seed=0)


def test_the_report_shows_the_kept_epoch_and_the_fidelity_checks(students):
    from pipeline.report import render_report

    df, schema = students
    model = create("tvae", **{**FAST["tvae"], "epochs": 6, "eval_every": 2}).fit(df, schema,
                                                                                 seed=0)
    training = model.card()["training"]
    page = render_report(
        dataset="students", model="tvae", run_id="r1", verdict="pass", reasons=[],
        metric_rows=[], real=df, synthetic=model.sample(200, seed=1), schema=schema,
        split_method="random rows", loss_history=model.loss_history, training=training)
    assert f"Kept the weights of epoch {training['chosen_epoch']} of 6 trained" in page
    section = page.split("Training loss", 1)[1]
    assert "<img" in section.split("</section>", 1)[0]
    assert [c["epoch"] for c in training["fidelity_curve"]] == [2, 4, 6]


def test_the_width_guard_counts_the_modes_each_column_really_keeps(adult):
    """Adult's capital columns keep 2 modes, not the 10 a generic estimate assumes: under a
    limit between the two counts nothing is folded."""
    from pipeline.models.rare_categories import encoded_widths

    df, schema = adult
    columns = schema.modelled_columns()
    generic = sum(encoded_widths(df[columns], schema).values())
    model = create("tvae", **{**FAST["tvae"], "max_encoded_columns": generic - 10})
    model.fit(df, schema, seed=0)
    assert model.fitted_.rare is None and model.fitted_.encoding.width <= generic - 10


SEEDING_WHILE_TORCH_LOADS = """
import importlib, sys, threading
from pipeline.models.reproducibility import seed_everything
assert "torch" not in sys.modules
loading = threading.Thread(target=importlib.import_module, args=("torch",))
loading.start()
calls = 0
while loading.is_alive() or calls == 0:
    seed_everything(0)  # another fit's thread, seeding while torch is half imported
    calls += 1
loading.join()
import torch
print("seeded", calls, torch.initial_seed())
"""


def test_seeding_while_another_thread_imports_torch_waits_for_the_import():
    """The flow fits models on threads: one thread may seed the generators while another is
    still importing torch; it must wait for the import, not call a half-made module (a
    demo run of ctgan and tvae at once failed so)."""
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", SEEDING_WHILE_TORCH_LOADS], cwd=root,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("seeded") and run.stdout.split()[-1] == "0"
