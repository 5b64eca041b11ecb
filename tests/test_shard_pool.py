"""Shards sampled and written on local worker processes (pipeline.shard_pool)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pipeline.models.gmm import GaussianMixtureModel
from pipeline.on_demand import SampleRequest
from pipeline.publish import Publication
from pipeline.schema import detect_schema, enforce_schema
from pipeline.shard_pool import ShardPool, stage_shard
from pipeline.sharding import plan_shards


def test_processes_write_the_parts_this_process_writes(demo_table_path, tmp_path):
    """Same model, same seeded shards: the pool's parts are byte for byte the parts written
    here, categories arrive dictionary-encoded, and ids stay unique across shards."""
    data = pd.read_csv(demo_table_path, parse_dates=["start_date", "end_date"])
    schema = detect_schema(data, "students")
    model = GaussianMixtureModel(n_components=4).fit(enforce_schema(data, schema), schema, 3)
    shards = plan_shards(900, 200, seed=5)
    here, pooled = (Publication(tmp_path, "students", "gmm", run) for run in ("here", "pool"))
    written = [Path(stage_shard(model, s, here, SampleRequest())) for s in shards]
    with ShardPool(2, ["gmm"]) as pool:
        futures = [pool.submit(model, s, pooled, SampleRequest()) for s in shards]
        from_pool = [Path(f.result()) for f in futures]
    assert [p.name for p in from_pool] == [p.name for p in written]
    for ours, theirs in zip(written, from_pool):
        assert ours.read_bytes() == theirs.read_bytes(), ours.name
    table = pq.read_table(pooled.staging)
    assert table.num_rows == 900 and table.column("student_id").to_pandas().is_unique
    assert str(table.schema.field("gender").type).startswith("dictionary")
