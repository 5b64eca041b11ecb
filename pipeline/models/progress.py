"""Per-epoch progress and loss reporting for models trained in epochs.

Every epoch goes to `logging` (what Prefect shows and what a log file keeps), to a progress bar
with an ETA only when the stream is a terminal (a bar in a log file is noise), and to a loss
history that the model card keeps.

Libraries such as ctgan train inside one opaque `fit` call whose only per-epoch seam is a
`tqdm(range(epochs))` loop. `watch_epochs` uses that seam: while it is active in a thread, the
library module's `tqdm` yields the same epochs and calls back after each one. Outside it, and in
every other thread, the original `tqdm` is used unchanged.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import IO, Any

log = logging.getLogger(__name__)

_active = threading.local()
_install_lock = threading.Lock()
# Marks a module's tqdm as already replaced, and keeps the original it delegates to.
_ORIGINAL_ATTR = "_pipeline_original_tqdm"


class EpochProgress:
    """Collects one loss entry per epoch and reports it as a log line and a terminal bar."""

    def __init__(
        self,
        label: str,
        epochs: int,
        logger: logging.Logger | None = None,
        stream: IO[str] | None = None,
    ) -> None:
        from tqdm import tqdm

        self.label, self.epochs = label, epochs
        self.history: list[dict[str, float]] = []
        self._log = logger or log
        stream = stream if stream is not None else sys.stderr
        self._started = time.perf_counter()
        self._bar = tqdm(
            total=epochs, desc=label, unit="epoch", file=stream,
            disable=not _is_terminal(stream), dynamic_ncols=True,
        )

    def start(self) -> None:
        """Restart the clock when training proper begins (after the library's preprocessing)."""
        self._started = time.perf_counter()
        self._bar.reset(total=self.epochs)

    def epoch_done(self, losses: dict[str, float]) -> None:
        """Record the epoch that just finished (numbered from 1) with its losses."""
        done = len(self.history) + 1
        self.history.append({"epoch": done, **losses})
        elapsed = time.perf_counter() - self._started
        eta = elapsed / done * (self.epochs - done)
        shown = " ".join(f"{k}={v:.4f}" for k, v in losses.items())
        self._log.info(
            "%s epoch %d/%d %s (%.1f s elapsed, ETA %.0f s)",
            self.label, done, self.epochs, shown, elapsed, eta,
        )
        self._bar.set_postfix({k: round(v, 4) for k, v in losses.items()}, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


@contextmanager
def watch_epochs(
    module: ModuleType,
    on_epoch_end: Callable[[int], None],
    on_start: Callable[[], None] | None = None,
) -> Iterator[bool]:
    """Call `on_epoch_end(epoch)` after each epoch of `module`'s `tqdm(range(epochs))` loop,
    and `on_start()` when that loop begins.

    Yields False (and watches nothing) when the module has no `tqdm` to hook, so a caller can
    fall back to reading losses after training.
    """
    if not _install(module):
        log.debug("%s has no tqdm loop to watch; losses are read after fitting", module.__name__)
        yield False
        return
    previous = getattr(_active, "callbacks", None)
    _active.callbacks = (on_epoch_end, on_start)
    try:
        yield True
    finally:
        _active.callbacks = previous


def _install(module: ModuleType) -> bool:
    """Replace `module.tqdm` once by a delegating factory; idempotent and thread-safe.

    It stays installed: removing it while another thread trains would break that thread's
    loop, and when no callback is active it is the original `tqdm`.
    """
    with _install_lock:
        original = getattr(module, "tqdm", None)
        if original is None or not callable(original):
            return False
        if getattr(original, _ORIGINAL_ATTR, None) is None:
            module.tqdm = _delegating_tqdm(original)
        return True


def _delegating_tqdm(original: Callable[..., Any]) -> Callable[..., Any]:
    def tqdm(iterable: Any = None, *args: Any, **kwargs: Any) -> Any:
        callbacks = getattr(_active, "callbacks", None)
        if callbacks is None or iterable is None:
            return original(iterable, *args, **kwargs)
        return _EpochLoop(iterable, *callbacks)

    setattr(tqdm, _ORIGINAL_ATTR, original)
    return tqdm


class _EpochLoop:
    """Iterates the epochs; the loop asks for epoch i+1 only once epoch i's body has run."""

    def __init__(
        self,
        iterable: Any,
        on_epoch_end: Callable[[int], None],
        on_start: Callable[[], None] | None,
    ) -> None:
        self._iterable, self._callback, self._on_start = iterable, on_epoch_end, on_start

    def __iter__(self) -> Iterator[Any]:
        if self._on_start is not None:
            self._on_start()
        for epoch in self._iterable:
            yield epoch
            self._callback(epoch)

    def __len__(self) -> int:
        return len(self._iterable)

    # the library may describe its bar; our EpochProgress reports instead
    def set_description(self, *args: Any, **kwargs: Any) -> None:
        return None

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        return None

    def close(self) -> None:
        return None
