"""TVAE (Xu et al., NeurIPS 2019), written from the paper in torch.

The same encoding as CTGAN. Encoder: fully connected ReLU layers to the mean and log-variance
of a Gaussian latent. Decoder: fully connected ReLU layers to one row of outputs: a Gaussian
for each alpha (mean tanh(output), a learned deviation per column, kept in [0.01, 1]) and a
categorical head per block. Loss: the negative ELBO, reconstruction weighted by `loss_factor`.
Sampling draws the latent from N(0, I), each alpha from its Gaussian and each block's slot from
its softmax.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from pipeline.models.neural.encoding import TableEncoding
from pipeline.models.neural.synthesizer import NeuralSynthesizer

SIGMA_RANGE = (0.01, 1.0)
# How a fitted decoder's blocks are drawn, chosen on the held-back rows after training
# (`choose_sampling`): from each softmax as it is; with each numeric column's mode taken as
# the likeliest (the modes carry the numbers' joint shape, and drawing them independently
# given the latent blurs it); or from every softmax at half its temperature.
SAMPLINGS = {"softmax": (1.0, False), "likeliest modes": (1.0, True), "cooled": (0.5, False)}


def _networks():
    import torch
    from torch import nn

    def stack(inputs: int, dims: list[int]) -> tuple[nn.Sequential, int]:
        layers, width = [], inputs
        for dim in dims:
            layers += [nn.Linear(width, dim), nn.ReLU()]
            width = dim
        return nn.Sequential(*layers), width

    class Encoder(nn.Module):
        def __init__(self, inputs: int, dims: list[int], latent: int) -> None:
            super().__init__()
            self.body, width = stack(inputs, dims)
            self.mean, self.log_var = nn.Linear(width, latent), nn.Linear(width, latent)

        def forward(self, x):
            h = self.body(x)
            return self.mean(h), self.log_var(h)

    class Decoder(nn.Module):
        def __init__(self, latent: int, dims: list[int], outputs: int, n_alpha: int) -> None:
            super().__init__()
            self.body, width = stack(latent, dims)
            self.head = nn.Linear(width, outputs)
            self.sigma = nn.Parameter(torch.full((n_alpha,), 0.1))

        def forward(self, z):
            return self.head(self.body(z))

    return Encoder, Decoder


class TVAEModel(NeuralSynthesizer):
    """Parameters: `pipeline.models.params.TVAEParams`."""

    name: ClassVar[str] = "tvae"
    _kept_modules: ClassVar[tuple[str, ...]] = ("decoder",)

    def _shapes(self, encoding: TableEncoding, conditions: Any) -> dict[str, Any]:
        s = self.settings
        return {"width": encoding.width, "latent": s.embedding_dim,
                "encoder": list(s.compress_dims), "decoder": list(s.decompress_dims),
                "alphas": encoding.n_numeric, "sampling": "softmax"}

    def _build(self, shapes: dict[str, Any], encoding: TableEncoding,
               device: Any) -> dict[str, Any]:
        from pipeline.models.neural.segments import Segments

        Encoder, Decoder = _networks()
        width, latent = shapes["width"], shapes["latent"]
        return {
            "encoder": Encoder(width, shapes["encoder"], latent).to(device),
            "decoder": Decoder(latent, shapes["decoder"], width, shapes["alphas"]).to(device),
            "segments": Segments(encoding, device),
            "latent": latent,
            "sampling": shapes.get("sampling", "softmax"),
            # the numeric columns' mode blocks come first: positions before this are modes
            "mode_positions": int(encoding.block_start[encoding.n_numeric] - encoding.n_numeric)
            if encoding.n_numeric < encoding.n_blocks else encoding.width - encoding.n_numeric,
        }

    def _epoch(self, modules: dict[str, Any], state: dict[str, Any]) -> dict[str, float]:
        import torch

        encoder, decoder, segments = modules["encoder"], modules["decoder"], modules["segments"]
        if "optimiser" not in state:
            params = list(encoder.parameters()) + list(decoder.parameters())
            state["optimiser"] = torch.optim.Adam(params, lr=self.settings.learning_rate,
                                                  weight_decay=self.settings.l2scale,
                                                  foreach=True)
        optimiser, data, batch = state["optimiser"], state["data"], state["batch"]
        order = torch.randperm(len(data), generator=state["torch_rng"], device=data.device)
        total = torch.zeros((), device=data.device)
        a = segments.n_alpha
        for step in range(state["steps"]):
            x = data[order[step * batch:(step + 1) * batch]]
            mean, log_var = encoder(x)
            noise = torch.randn(mean.shape, generator=state["torch_rng"], device=x.device)
            out = decoder(mean + noise * torch.exp(0.5 * log_var))
            sigma = decoder.sigma
            alpha_loss = ((x[:, :a] - torch.tanh(out[:, :a])) ** 2 / (2 * sigma ** 2)).sum() \
                + torch.log(sigma).sum() * len(x)
            block_loss = -(x[:, a:] * segments.log_softmax(out[:, a:])).sum()
            kl = -0.5 * (1 + log_var - mean ** 2 - log_var.exp()).sum()
            loss = (self.settings.loss_factor * (alpha_loss + block_loss) + kl) / len(x)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                sigma.clamp_(*SIGMA_RANGE)
            total += loss.detach()
        return {"loss": float(total / state["steps"])}

    def _generate(self, modules, n, rng, torch_rng, label):
        import torch

        decoder, segments = modules["decoder"], modules["segments"]
        device = decoder.sigma.device
        a = segments.n_alpha
        alphas, choices = [], []
        with torch.no_grad():
            for start in range(0, n, 50_000):
                size = min(50_000, n - start)
                z = torch.randn(size, modules["latent"], generator=torch_rng, device=device)
                out = decoder(z)
                noise = torch.randn(size, a, generator=torch_rng, device=device)
                alphas.append((torch.tanh(out[:, :a]) + noise * decoder.sigma).cpu().numpy())
                temperature, likeliest_modes = SAMPLINGS[modules["sampling"]]
                logits = out[:, a:] / temperature
                if likeliest_modes:
                    logits[:, :modules["mode_positions"]] *= 1e6  # the draw becomes an argmax
                choices.append(segments.draw(logits, torch_rng))
        return np.concatenate(alphas), np.concatenate(choices)

    def _after_training(self, modules, shapes, probe, encoding, rng, torch_rng) -> None:
        """The way of drawing blocks whose sample scores best on the held-back rows."""
        if probe is None:
            return
        scores = {}
        for name in SAMPLINGS:
            modules["sampling"] = name
            scores[name] = self._probe_score(modules, probe, encoding, rng, torch_rng)
        shapes["sampling"] = modules["sampling"] = max(scores, key=scores.get)
        shapes["sampling_scores"] = {k: round(v, 5) for k, v in scores.items()}

