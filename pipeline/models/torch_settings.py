"""Torch settings for a reproducible fit or sample: thread caps and deterministic kernels."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

# Threads a fit or sample may use by default. One: torch's spinning OpenMP threads slow every
# step when cores are shared (parallel fits share them too), and a fixed count keeps the output
# independent of the machine's core count.
DEFAULT_THREADS = 1


@contextmanager
def deterministic_torch(cuda: bool) -> Iterator[None]:
    """Deterministic kernels while fitting on CUDA; restored afterwards.

    On CPU, a seeded fit is already bit-identical on the same machine with a fixed thread
    count, so nothing changes there. On CUDA some
    kernels (cuBLAS split reductions, atomics) are not deterministic unless asked; cuBLAS
    reads CUBLAS_WORKSPACE_CONFIG when its first handle is created in the process.
    """
    if not cuda:
        yield
        return
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_on, was_warn = torch.are_deterministic_algorithms_enabled(), (
        torch.is_deterministic_algorithms_warn_only_enabled()
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_on, warn_only=was_warn)


@contextmanager
def limited_threads(threads: int) -> Iterator[None]:
    """Cap torch's, BLAS's and OpenMP's threads, and run ctgan's joblib transforms in-process.

    ctgan transforms large tables with `Parallel(n_jobs=-1)`, which spawns worker processes
    that cost more than they save when the fit is held to one thread.
    """
    import joblib
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with ExitStack() as stack:
            stack.enter_context(threadpool_limits(limits=threads))
            if threads == 1:
                stack.enter_context(joblib.parallel_config(backend="sequential"))
            yield
    finally:
        torch.set_num_threads(previous)
