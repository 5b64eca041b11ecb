"""Sequences in groups of similar length, so arrays padded to a group's longest sequence stay
near the rows they hold: one 50,000-step entity among 10,000 short ones would otherwise pad
every short one to 50,000 steps, in fitting (forward-backward) and in sampling alike."""

from __future__ import annotations

import numpy as np

# Padded cells may be this many times the real ones before sequences are grouped.
PAD_SLACK = 2.0
# In a group, no sequence is shorter than this share of the group's longest.
MIN_LENGTH_SHARE = 0.5


def length_groups(lengths: np.ndarray) -> list[np.ndarray]:
    """Sequence numbers in groups; a single group, in order, when padding costs little."""
    lengths = np.asarray(lengths)
    n = len(lengths)
    if n == 0 or n * lengths.max() <= PAD_SLACK * lengths.sum():
        return [np.arange(n)]
    order = np.argsort(-lengths, kind="stable")
    groups, start = [], 0
    while start < n:
        longest = lengths[order[start]]
        end = start + int(np.searchsorted(-lengths[order[start:]], -MIN_LENGTH_SHARE * longest,
                                          side="right"))
        groups.append(np.sort(order[start:max(end, start + 1)]))
        start = max(end, start + 1)
    return groups


def in_sequence_order(columns: dict, sequences: np.ndarray, lengths: np.ndarray) -> dict:
    """Rows drawn group by group (`sequences`: the sequence numbers in drawn order, each
    sequence's rows together) put back sequence by sequence, each in step order."""
    owner = np.repeat(sequences, lengths[sequences])
    order = np.argsort(owner, kind="stable")
    return {name: np.asarray(values)[order] for name, values in columns.items()}
