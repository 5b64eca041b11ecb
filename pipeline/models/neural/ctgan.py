"""CTGAN (Xu et al., NeurIPS 2019), written from the paper in torch.

Generator: residual fully connected layers (each block's output is concatenated with its
input) from noise and the conditional vector to one encoded row; tanh on the alphas and a
Gumbel softmax (tau 0.2) on every block. Critic: `pac` rows judged together (PacGAN), leaky
ReLU and dropout, trained as a WGAN with gradient penalty. The generator's loss adds the
cross-entropy between the label it was asked for and the one it produced (training-by-sampling,
`conditions`). One generator pass per step serves both the critic's update (detached) and the
generator's, and every random draw comes from the fit's own generators, so a seeded fit is
reproducible and fits on parallel threads do not share a generator.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from pipeline.models.neural.conditions import ConditionSampler
from pipeline.models.neural.encoding import TableEncoding
from pipeline.models.neural.synthesizer import NeuralSynthesizer

GUMBEL_TAU = 0.2
GRADIENT_PENALTY = 10.0
ADAM_BETAS = (0.5, 0.9)


def _networks():
    """The torch modules, defined when torch is first needed (torch loads in seconds)."""
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, inputs: int, outputs: int) -> None:
            super().__init__()
            self.fc, self.bn = nn.Linear(inputs, outputs), nn.BatchNorm1d(outputs)

        def forward(self, x):
            return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)

    class Generator(nn.Module):
        def __init__(self, inputs: int, dims: list[int], outputs: int) -> None:
            super().__init__()
            layers, width = [], inputs
            for dim in dims:
                layers.append(Residual(width, dim))
                width += dim
            self.body, self.head = nn.Sequential(*layers), nn.Linear(width, outputs)

        def forward(self, x):
            return self.head(self.body(x))

    class Critic(nn.Module):
        """Judges `pac` rows at once; dropout masks come from the fit's own generator."""

        def __init__(self, inputs: int, dims: list[int], pac: int) -> None:
            super().__init__()
            self.pac, width, layers = pac, inputs * pac, []
            for dim in dims:
                layers.append(nn.Linear(width, dim))
                width = dim
            self.hidden, self.head = nn.ModuleList(layers), nn.Linear(width, 1)
            self.torch_rng: torch.Generator | None = None

        def forward(self, x):
            h = x.reshape(-1, x.shape[1] * self.pac)
            for layer in self.hidden:
                h = nn.functional.leaky_relu(layer(h), 0.2)
                if self.training:
                    keep = torch.rand(h.shape, generator=self.torch_rng, device=h.device) >= 0.5
                    h = h * keep * 2.0
            return self.head(h)

    return Generator, Critic


class CTGANModel(NeuralSynthesizer):
    """Parameters: `pipeline.models.params.CTGANParams`."""

    name: ClassVar[str] = "ctgan"
    _kept_modules: ClassVar[tuple[str, ...]] = ("generator",)

    def _round_batch(self, n: int) -> int:
        return n - n % self.settings.pac

    def _training_state(self, encoding, matrix, choices, rng, torch_rng, device) -> dict:
        import torch

        state = super()._training_state(encoding, matrix, choices, rng, torch_rng, device)
        sampler = ConditionSampler.build(encoding, choices, self.settings.log_frequency)
        state["conditions"] = sampler
        state["cond_positions"] = torch.as_tensor(encoding.cond_positions(), device=device)
        return state

    def _shapes(self, encoding: TableEncoding, conditions: Any) -> dict[str, Any]:
        s = self.settings
        return {"width": encoding.width, "cond": conditions.width, "noise": s.embedding_dim,
                "generator": list(s.generator_dim), "critic": list(s.discriminator_dim),
                "pac": s.pac}

    def _build(self, shapes: dict[str, Any], encoding: TableEncoding,
               device: Any) -> dict[str, Any]:
        from pipeline.models.neural.segments import Segments

        Generator, Critic = _networks()
        width, cond = shapes["width"], shapes["cond"]
        return {
            "generator": Generator(shapes["noise"] + cond, shapes["generator"], width).to(device),
            "critic": Critic(width + cond, shapes["critic"], shapes["pac"]).to(device),
            "segments": Segments(encoding, device),
            "noise": shapes["noise"],
        }

    # --- training ----------------------------------------------------------------------
    def _optimisers(self, modules: dict[str, Any], state: dict[str, Any]):
        import torch

        if "optimisers" not in state:
            s = self.settings
            state["optimisers"] = (
                torch.optim.Adam(modules["generator"].parameters(), lr=s.generator_lr,
                                 betas=ADAM_BETAS, weight_decay=s.generator_decay,
                                 foreach=True),
                torch.optim.Adam(modules["critic"].parameters(), lr=s.discriminator_lr,
                                 betas=ADAM_BETAS, weight_decay=s.discriminator_decay,
                                 foreach=True))
            modules["critic"].torch_rng = state["torch_rng"]
            if s.ema_decay:
                modules["averaged"] = copy.deepcopy(modules["generator"])
        return state["optimisers"]

    def _kept(self, modules: dict[str, Any]) -> dict[str, Any]:
        """While training, the averaged generator is what is kept (and probed)."""
        return {"generator": modules.get("averaged", modules["generator"])}

    def _average(self, modules: dict[str, Any]) -> None:
        """An exponential moving average of the generator's weights: a GAN's weights circle
        around a good point from step to step, and their average sits nearer to it."""
        import torch

        averaged = modules.get("averaged")
        if averaged is None:
            return
        generator = modules["generator"]
        steps = modules["averaged_steps"] = modules.get("averaged_steps", 0) + 1
        # early on the average spans the steps taken so far, not a window of older ones
        decay = min(self.settings.ema_decay, (1 + steps) / (10 + steps))
        with torch.no_grad():
            torch._foreach_lerp_(list(averaged.parameters()), list(generator.parameters()),
                                 1 - decay)
            for mine, theirs in zip(averaged.buffers(), generator.buffers()):
                mine.copy_(theirs)

    def _epoch(self, modules: dict[str, Any], state: dict[str, Any]) -> dict[str, float]:
        import torch

        g_opt, d_opt = self._optimisers(modules, state)
        generator, critic = modules["generator"], modules["critic"]
        generator.train()
        critic.train()
        totals = torch.zeros(2, device=state["device"])
        for _ in range(state["steps"]):
            for _ in range(self.settings.discriminator_steps):  # the last batch also
                fake, cond, labels = self._fake_batch(modules, state)  # trains the generator
                d_loss = self._critic_step(critic, d_opt, fake, cond, labels, state)
            g_loss = self._generator_step(critic, g_opt, fake, cond, labels, modules, state)
            self._average(modules)
            totals += torch.stack([g_loss.detach(), d_loss.detach()])
        g, d = (totals / state["steps"]).tolist()
        return {"generator_loss": g, "discriminator_loss": d}

    def _fake_batch(self, modules, state):
        import torch

        batch, device, sampler = state["batch"], state["device"], state["conditions"]
        noise = torch.randn(batch, modules["noise"], generator=state["torch_rng"], device=device)
        if sampler.n_blocks:
            labels = sampler.draw_labels(batch, state["rng"], for_training=True)
            cond = torch.as_tensor(sampler.one_hot(labels), device=device)
        else:
            labels, cond = None, torch.zeros(batch, 0, device=device)
        raw = modules["generator"](torch.cat([noise, cond], dim=1))
        return raw, cond, labels

    def _critic_step(self, critic, optimiser, raw, cond, labels, state):
        import torch

        segments = state["segments"]
        fake = segments.activate(raw.detach(), GUMBEL_TAU, state["torch_rng"])
        real = self._real_rows(cond, labels, state)
        fake_in = torch.cat([fake, cond], dim=1)
        loss = critic(fake_in).mean() - critic(real).mean()
        loss = loss + self._gradient_penalty(critic, real, fake_in, state)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return loss

    def _real_rows(self, cond, labels, state):
        """Real rows holding the batch's labels, each paired with a shuffled row's condition
        (as the paper's critic sees them: the condition does not give the pairing away)."""
        import torch

        sampler, rng, batch = state["conditions"], state["rng"], state["batch"]
        if labels is None:
            rows = rng.integers(len(state["data"]), size=batch)
            return state["data"][torch.as_tensor(rows, device=state["device"])]
        perm = rng.permutation(batch)
        rows = sampler.rows_with(labels[perm], rng)
        real = state["data"][torch.as_tensor(rows, device=state["device"])]
        return torch.cat([real, cond[torch.as_tensor(perm, device=state["device"])]], dim=1)

    def _gradient_penalty(self, critic, real, fake, state):
        import torch

        pac = critic.pac
        mix = torch.rand(real.shape[0] // pac, 1, 1, generator=state["torch_rng"],
                         device=real.device)
        mix = mix.expand(-1, pac, real.shape[1]).reshape(real.shape)
        between = (mix * real + (1 - mix) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
        norm = grad.reshape(-1, pac * real.shape[1]).norm(2, dim=1)
        return GRADIENT_PENALTY * ((norm - 1) ** 2).mean()

    def _generator_step(self, critic, optimiser, raw, cond, labels, modules, state):
        import torch

        segments = state["segments"]
        fake = segments.activate(raw, GUMBEL_TAU, state["torch_rng"])
        loss = -critic(torch.cat([fake, cond], dim=1)).mean()
        if labels is not None:
            log_p = segments.log_softmax(raw[:, segments.n_alpha:])
            where = state["cond_positions"][torch.as_tensor(labels, device=raw.device)]
            loss = loss - log_p.gather(1, (where - segments.n_alpha)[:, None]).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return loss

    # --- generating ----------------------------------------------------------------------
    def _generate(self, modules, n, rng, torch_rng, label):
        """Labels drawn by their real frequency (or the condition's), Gumbel-max on blocks."""
        import torch

        sampler = modules["conditions"]
        generator = modules.get("averaged", modules["generator"])
        device = next(generator.parameters()).device
        was_training = generator.training
        generator.eval()  # batch norm from its running statistics: rows do not depend on
        chunk = 50_000  # the other rows of their chunk
        alphas, choices = [], []
        with torch.no_grad():
            for start in range(0, n, chunk):
                size = min(chunk, n - start)
                noise = torch.randn(size, modules["noise"], generator=torch_rng, device=device)
                if sampler is not None and sampler.n_blocks:
                    labels = np.full(size, label) if label is not None else \
                        sampler.draw_labels(size, rng, for_training=False)
                    cond = torch.as_tensor(sampler.one_hot(labels), device=device)
                else:
                    cond = torch.zeros(size, 0, device=device)
                raw = generator(torch.cat([noise, cond], dim=1))
                a, c = _alpha_and_choices(raw, modules["segments"], torch_rng)
                alphas.append(a)
                choices.append(c)
        generator.train(was_training)
        return np.concatenate(alphas), np.concatenate(choices)

    def _train(self, modules, state, probe, encoding, rng, torch_rng):
        state["segments"] = modules["segments"]
        return super()._train(modules, state, probe, encoding, rng, torch_rng)

    def _condition_label(self, conditions: dict[str, Any]) -> int | None:
        """Conditions are met by rejection; the first one on a categorical column also goes
        into the conditional vector, so most draws already meet it."""
        encoding = self._fitted().encoding
        offset = 0
        for codec, width in zip(encoding.categorical, encoding.block_width[encoding.cond_blocks]):
            if codec.column in conditions:
                wanted = str(conditions[codec.column])
                hits = [i for i, label in enumerate(codec.labels) if str(label) == wanted]
                return offset + hits[0] if hits else None
            offset += int(width)
        return None


def _alpha_and_choices(raw, segments, torch_rng) -> tuple[np.ndarray, np.ndarray]:
    """tanh'd alphas and a slot per block drawn from its softmax (the argmax of a Gumbel
    softmax at any temperature)."""
    import torch

    alpha = torch.tanh(raw[:, : segments.n_alpha])
    return alpha.cpu().numpy(), segments.draw(raw[:, segments.n_alpha:], torch_rng)
