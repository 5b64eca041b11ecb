"""Hard clusters of the encoded rows, the starting point of EM."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def kmeans(x: sparse.csr_matrix, k: int, rng: np.random.Generator, n_iter: int = 8) -> np.ndarray:
    """A cluster label per row of `x`: a few Lloyd iterations from k-means++ centres picked on
    a row sample, because EM refines the clusters anyway and a rough start is enough."""
    n = x.shape[0]
    sample = rng.choice(n, size=min(n, 20 * k + 500), replace=False)
    centers = kmeans_plus_plus(x[sample].toarray(), k, rng)
    squared = np.asarray(x.multiply(x).sum(axis=1)).ravel()
    for _ in range(n_iter):
        distance = squared[:, None] - 2.0 * (x @ centers.T) + (centers * centers).sum(axis=1)
        labels = distance.argmin(axis=1)
        assign = sparse.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
        counts = np.bincount(labels, minlength=k)
        sums = np.asarray((assign @ x).todense())
        filled = counts > 0
        centers[filled] = sums[filled] / counts[filled, None]
    return labels


def kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centers = np.empty((k, x.shape[1]))
    centers[0] = x[rng.integers(len(x))]
    closest = ((x - centers[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        total = closest.sum()
        pick = rng.choice(len(x), p=closest / total) if total > 0 else rng.integers(len(x))
        centers[j] = x[pick]
        closest = np.minimum(closest, ((x - centers[j]) ** 2).sum(axis=1))
    return centers
