"""Benchmarks: speed, quality and privacy of the project's models against raw SDV, in one run.

`python -m benchmarks.run --quick` (minutes) or `--full` (under an hour on 2 cores); results go
to benchmarks/results/. The other scripts here (gmm_quality.py, sdv_models_quality.py, ...)
are single-model studies that the harness does not need.
"""
