"""The one rule for dataset names, checked wherever a name enters (job, CLI, schema file).

A dataset name becomes part of file paths (schemas/<name>.yaml, data/published/<name>/), so
it must never be able to leave the folder it is joined to.
"""

from __future__ import annotations

import re

from pipeline.errors import PipelineError

MAX_LENGTH = 64
# fullmatch, not match with `$`: `$` also matches before a trailing newline
DATASET_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_LENGTH - 1}}}")
RULE = (
    f"use letters, digits, '_', '-' or '.' (1 to {MAX_LENGTH}, starting with a letter or "
    "digit), no spaces, no '/' and no '..'; the name becomes part of file paths"
)


def name_problem(name: object) -> str | None:
    """RULE when `name` breaks it, else None (for validators that raise their own type)."""
    if not isinstance(name, str) or not DATASET_NAME.fullmatch(name) or ".." in name:
        return RULE
    return None


def validated_name(value: str) -> str:
    """`value` itself, or the ValueError a pydantic validator turns into its own error."""
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def check_dataset_name(name: object, where: str = "dataset name") -> str:
    """`name` itself, or a PipelineError that quotes it (shortened) and states the rule."""
    problem = name_problem(name)
    if problem is None:
        return name  # type: ignore[return-value]
    shown = repr(name)
    if len(shown) > 60:
        shown = f"{shown[:50]}... ({len(str(name))} characters)"
    raise PipelineError(f"{where} {shown} is not allowed: {problem}")
