r"""Latent diffusion: the training objective and the (guided) predictions the samplers need.

Training (Ho et al., 2020), with label dropout for classifier-free guidance (Ho & Salimans, 2022):

.. math::
    t \sim \mathcal{U}\{0,\ldots,T-1\},\ \varepsilon \sim \mathcal{N}(0, I),\
    z_t = \sqrt{\bar\alpha_t}\,z_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\
    y' = \begin{cases}\varnothing & \text{with prob. } p_\text{uncond}\\ y & \text{otherwise}\end{cases},\qquad
    \mathcal{L} = \lVert \varepsilon - \varepsilon_\theta(z_t, t, y') \rVert^2

(or the v-target :math:`v = \sqrt{\bar\alpha_t}\varepsilon - \sqrt{1-\bar\alpha_t}z_0` with ``prediction="v"``).

Classifier-free guidance mixes the conditional and unconditional predictions with a scale w:

.. math::
    \tilde\varepsilon = \varepsilon_\theta(z_t, t, \varnothing) + w\,\big(\varepsilon_\theta(z_t, t, y)
    - \varepsilon_\theta(z_t, t, \varnothing)\big)

so w = 0 is the unconditional model, w = 1 the plain conditional one, and w > 1 pushes samples towards what makes
them recognisably "their" class.
"""

from __future__ import annotations

import torch
from torch import nn

from .denoiser import ConditionalLatentUNet, DenoiserConfig
from .schedule import NoiseSchedule

PREDICTIONS = ("eps", "v")


class LatentDiffusion(nn.Module):
    """A denoiser, its noise schedule and what it predicts, in one module that moves with ``.to(device)``."""

    def __init__(
        self,
        denoiser: ConditionalLatentUNet | None = None,
        schedule: NoiseSchedule | None = None,
        prediction: str = "eps",
    ) -> None:
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        self.denoiser = denoiser or ConditionalLatentUNet(DenoiserConfig())
        self.schedule = schedule or NoiseSchedule()
        self.prediction = prediction

    @property
    def num_steps(self) -> int:
        return self.schedule.num_steps

    @property
    def null_class(self) -> int:
        return self.denoiser.null_class

    @property
    def latent_dim(self) -> int:
        return self.denoiser.config.latent_dim

    def loss(
        self, z0: torch.Tensor, y: torch.Tensor, generator: torch.Generator, p_uncond: float = 0.0
    ) -> torch.Tensor:
        """Mean squared error of the noise (or v) prediction on a batch of clean latents ``z0`` with labels ``y``.

        All randomness (t, ε, which labels are dropped) comes from ``generator``, which must live on z0's device.
        """
        n = z0.shape[0]
        t = torch.randint(0, self.num_steps, (n,), generator=generator, device=z0.device)  # t ~ U{0..T-1}
        noise = torch.randn(z0.shape, generator=generator, device=z0.device)  # ε ~ N(0, I)
        z_t = self.schedule.q_sample(z0, t, noise)  # z_t = √ᾱ_t z0 + √(1−ᾱ_t) ε
        drop = torch.rand(n, generator=generator, device=z0.device) < p_uncond
        y = torch.where(drop, torch.full_like(y, self.null_class), y)  # y' = ∅ with prob. p_uncond
        target = noise if self.prediction == "eps" else self.schedule.velocity(z0, t, noise)
        return nn.functional.mse_loss(self.denoiser(z_t, t, y), target)  # ‖target − model(z_t, t, y')‖²

    def predict(
        self, z_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor, guidance: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Guided (ε̂, ẑ_0) for noisy latents ``z_t`` at timesteps ``t`` and classes ``y``.

        guidance = 1 needs only the conditional pass, guidance = 0 only the unconditional one; otherwise both run
        in a single batch.
        """
        if guidance < 0:
            raise ValueError(f"guidance must be >= 0 (0 = unconditional, 1 = conditional), got {guidance}")
        null = torch.full_like(y, self.null_class)
        if guidance == 1.0:
            out = self.denoiser(z_t, t, y)
        elif guidance == 0.0:
            out = self.denoiser(z_t, t, null)
        else:
            both = self.denoiser(torch.cat([z_t, z_t]), torch.cat([t, t]), torch.cat([y, null]))
            cond, uncond = both.chunk(2)
            out = uncond + guidance * (cond - uncond)  # ε̃ = ε(∅) + w (ε(y) − ε(∅)); linear, so valid for v too
        return self._to_eps_x0(z_t, t, out)

    def _to_eps_x0(self, z_t: torch.Tensor, t: torch.Tensor, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.schedule
        if self.prediction == "eps":
            return out, s.predict_x0(z_t, t, out)
        # v-parameterisation: x0 = √ᾱ z_t − √(1−ᾱ) v,  ε = √(1−ᾱ) z_t + √ᾱ v
        a, b = s.gather("sqrt_alpha_bar", t, z_t), s.gather("sqrt_one_minus_alpha_bar", t, z_t)
        return b * z_t + a * out, a * z_t - b * out
