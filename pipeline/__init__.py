"""Synthetic data pipeline: ingest -> schema -> split -> fit -> sample -> validate -> publish.

Plain functions over DataFrames; `flows/` wraps them in Prefect. Nothing here imports Prefect.
"""

__version__ = "0.1.0"
