"""Content-keyed model artifacts: reused on unchanged inputs and code, refitted when the code
changes or the file is corrupt, and safe when two runs fit the same key at once."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
from importlib.resources import files

import pandas as pd
import pytest

from pipeline.artifacts import PACKAGE_ROOT, artifact_key, code_fingerprint, fit_or_load
from pipeline.errors import PipelineError
from pipeline.ingest import read_source
from pipeline.models.base import Synthesizer
from pipeline.models.storage import ARRAYS_FILE, CARD_FILE, STATE_FILE
from pipeline.schema import detect_schema, enforce_schema

PARAMS = {"n_components": 2, "max_iter": 5}


@pytest.fixture(scope="module")
def students():
    frame, _ = read_source(
        str(files("sdmetrics").joinpath("demos/single_table/student_placements_real.csv")))
    schema = detect_schema(frame, "students")
    return enforce_schema(frame, schema), schema


def test_same_inputs_reuse_the_fitted_model(students, tmp_path):
    frame, schema = students
    first, directory, reused = fit_or_load("gmm", PARAMS, frame, schema, 0, tmp_path)
    assert not reused
    again, same_directory, reused = fit_or_load("gmm", PARAMS, frame, schema, 0, tmp_path)
    assert reused and same_directory == directory
    pd.testing.assert_frame_equal(first.sample(5, seed=1), again.sample(5, seed=1))


def test_an_edit_to_any_module_moves_the_key(students, tmp_path):
    frame, schema = students
    copy = tmp_path / "pipeline"
    shutil.copytree(PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = code_fingerprint(copy)
    module = copy / "postprocess.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    code_fingerprint.cache_clear()
    after = code_fingerprint(copy)
    assert before != after
    keys = {artifact_key("sha256:x", schema, "gmm", PARAMS, 0, code) for code in (before, after)}
    assert len(keys) == 2


def test_a_corrupt_artifact_is_refitted_with_a_warning(students, tmp_path, caplog):
    frame, schema = students
    _, directory, _ = fit_or_load("gmm", PARAMS, frame, schema, 0, tmp_path)
    (directory / ARRAYS_FILE).write_bytes(b"\x80\x04random bytes, not a model")
    with pytest.raises(Exception, match="checksum"):
        Synthesizer.load(directory)
    with caplog.at_level(logging.WARNING, logger="pipeline.artifacts"):
        model, again, reused = fit_or_load("gmm", PARAMS, frame, schema, 0, tmp_path)
    assert not reused and again == directory and "does not load" in caplog.text
    assert fit_or_load("gmm", PARAMS, frame, schema, 0, tmp_path)[2]  # the refit is reused


def test_a_model_saved_by_other_code_is_refitted_not_loaded(students, tmp_path, caplog):
    # a folder at this key written by other code (a copy on a shared filesystem, another
    # version): its card names the code that wrote it, and that is not this code
    frame, schema = students
    _, directory, _ = fit_or_load("gmm", PARAMS, frame, schema, 0, tmp_path)
    card = json.loads((directory / CARD_FILE).read_text())
    assert card["code_fingerprint"] == code_fingerprint()
    card["code_fingerprint"] = "0" * 64
    (directory / CARD_FILE).write_text(json.dumps(card))
    with caplog.at_level(logging.WARNING, logger="pipeline.artifacts"):
        _, again, reused = fit_or_load("gmm", PARAMS, frame, schema, 0, tmp_path)
    assert not reused and again == directory and "saved by other code" in caplog.text
    assert fit_or_load("gmm", PARAMS, frame, schema, 0, tmp_path)[2]


def test_our_models_are_plain_arrays_and_json_that_build_only_our_classes(students, tmp_path):
    frame, schema = students
    _, directory, _ = fit_or_load("gmm", PARAMS, frame, schema, 0, tmp_path)
    assert sorted(p.name for p in directory.iterdir()) == [CARD_FILE, STATE_FILE, ARRAYS_FILE]
    # a crafted state naming a class outside the package is refused, checksum or not
    state = (directory / STATE_FILE).read_text().replace(
        '"pipeline.models.gmm:GaussianMixtureModel"', '"subprocess:Popen"')
    (directory / STATE_FILE).write_text(state)
    card = json.loads((directory / CARD_FILE).read_text())
    card["model_files_sha256"][STATE_FILE] = hashlib.sha256(state.encode()).hexdigest()
    (directory / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(PipelineError, match="not ours to build"):
        Synthesizer.load(directory)


def test_two_runs_fitting_one_key_at_once_both_succeed(students, tmp_path):
    frame, schema = students
    results, errors = [], []

    def run() -> None:
        try:
            results.append(fit_or_load("gmm", PARAMS, frame, schema, 0, tmp_path))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 2
    (entry,) = list((tmp_path / "students").iterdir())  # one artifact, no partial folders
    assert Synthesizer.load(entry).name == "gmm"
