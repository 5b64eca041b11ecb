"""What makes a fit repeatable and a run's artifacts traceable: every global generator a
model may draw from seeded at once (under one lock, since a process has one of each), and
the versions of the libraries a fit ran with.
"""

from __future__ import annotations

import platform
import random
import threading
from importlib import metadata

import numpy as np

LIBRARIES = ("numpy", "pandas", "torch", "sdv", "ctgan", "rdt", "scikit-learn", "pyarrow")


# numpy's, Python's and torch's global generators: one process has one of each.
GLOBAL_RANDOM_STATE = threading.RLock()


def seed_everything(seed: int) -> None:
    """Seed every generator a model may draw from; torch only if already imported. Waits
    while a model that draws from them holds them (`GLOBAL_RANDOM_STATE`)."""
    import sys

    with GLOBAL_RANDOM_STATE:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        if "torch" in sys.modules:
            # an import statement, not sys.modules: another thread may be importing torch
            # this moment, and the statement waits for it to finish
            import torch

            torch.manual_seed(seed)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return versions
