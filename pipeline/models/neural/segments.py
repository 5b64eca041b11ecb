"""Activations over every block of an encoded row at once (torch).

A row's blocks have different widths; a loop over them costs a Python round trip per block
per step, which on a wide table is most of a step. Each position instead carries its block's
id, and scatter/gather ops compute every block's softmax in one pass.
"""

from __future__ import annotations

import numpy as np
import torch

from pipeline.models.neural.encoding import TableEncoding


class Segments:
    """The softmax blocks of one encoding, on one device."""

    def __init__(self, encoding: TableEncoding, device: torch.device) -> None:
        self.n_alpha = encoding.n_numeric
        self.n_blocks = encoding.n_blocks
        self.ids = torch.as_tensor(encoding.block_ids(), device=device, dtype=torch.long)
        self.starts = torch.as_tensor(encoding.block_start - self.n_alpha, device=device,
                                      dtype=torch.long)

    def log_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-softmax of each block of `logits` (the positions after the alphas)."""
        index = self.ids.expand(logits.shape[0], -1)
        top = torch.full((logits.shape[0], self.n_blocks), -torch.inf, device=logits.device,
                         dtype=logits.dtype)
        top = top.scatter_reduce(1, index, logits.detach(), "amax", include_self=True)
        shifted = logits - top.gather(1, index)
        sums = torch.zeros_like(top).scatter_add(1, index, shifted.exp())
        return shifted - sums.log().gather(1, index)

    def gumbel_softmax(self, logits: torch.Tensor, tau: float,
                       generator: torch.Generator | None) -> torch.Tensor:
        return self.log_softmax((logits + _gumbel(logits, generator)) / tau).exp()

    def draw(self, logits: torch.Tensor, generator: torch.Generator | None) -> np.ndarray:
        """A slot per block drawn from its softmax (Gumbel-max), counted from the block's
        start: (rows, blocks)."""
        noisy = logits + _gumbel(logits, generator)
        index = self.ids.expand(logits.shape[0], -1)
        top = torch.full((logits.shape[0], self.n_blocks), -torch.inf, device=logits.device,
                         dtype=logits.dtype).scatter_reduce(1, index, noisy, "amax",
                                                            include_self=True)
        position = torch.arange(logits.shape[1], device=logits.device).expand_as(noisy)
        hit = torch.where(noisy >= top.gather(1, index), position, logits.shape[1])
        first = torch.full(top.shape, logits.shape[1], device=logits.device,
                           dtype=torch.long).scatter_reduce(1, index, hit, "amin",
                                                            include_self=True)
        return (first - self.starts[None]).cpu().numpy()

    def activate(self, raw: torch.Tensor, tau: float,
                 generator: torch.Generator | None) -> torch.Tensor:
        """tanh on the alphas, a Gumbel softmax on every block (CTGAN's generator output)."""
        alpha = torch.tanh(raw[:, : self.n_alpha])
        return torch.cat([alpha, self.gumbel_softmax(raw[:, self.n_alpha:], tau, generator)], 1)


def _gumbel(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    uniform = torch.rand(like.shape, generator=generator, device=like.device)
    return -torch.log((-torch.log(uniform.clamp_min(1e-10))).clamp_min(1e-10))
