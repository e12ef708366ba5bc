r"""Latent diffusion: the model's own coordinates, the training objective and the (guided) predictions.

**Coordinates.** The denoiser works on *standardised* latents :math:`\tilde z = (z - \mu)/\sigma` (see
:mod:`fmd_utils.normalizer`); the :class:`LatentDiffusion` owns that normaliser as a submodule, saved in its state
dict, and applies it at its edges. Every public function takes and returns *raw* autoencoder latents;
:meth:`LatentDiffusion.predict` and the sampler's update rules in between work on standardised ones.

**Training** (Ho et al., 2020), with label dropout for classifier-free guidance (Ho & Salimans, 2022):

.. math::
    t \sim \mathcal{U}\{0,\ldots,T-1\},\ \varepsilon \sim \mathcal{N}(0, I),\
    z_t = \sqrt{\bar\alpha_t}\,\tilde z_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\
    y' = \begin{cases}\varnothing & \text{with prob. } p_\text{uncond}\\ y & \text{otherwise}\end{cases},\qquad
    \mathcal{L} = \lVert \text{target} - f_\theta(z_t, t, y') \rVert^2

with target ε (``prediction="eps"``) or :math:`v = \sqrt{\bar\alpha_t}\varepsilon - \sqrt{1-\bar\alpha_t}\tilde z_0`
(``prediction="v"``, Salimans & Ho, 2022).

**Guidance** mixes the conditional and unconditional predictions with a weight w:

.. math::
    \tilde f = f_\theta(z_t, t, \varnothing) + w\,\big(f_\theta(z_t, t, y) - f_\theta(z_t, t, \varnothing)\big)

so w = 0 is the unconditional model, w = 1 the plain conditional one, and w > 1 pushes samples towards what makes
them recognisably "their" class. The mix is linear, so it is the same whether f predicts ε or v.
"""

from __future__ import annotations

import torch
from torch import nn

from .denoisers import Denoiser, build_denoiser
from .distributed import part
from .normalizer import LatentNormalizer
from .schedule import NoiseSchedule
from .settings import SamplingSettings

PREDICTIONS = ("eps", "v")


class LatentModel(nn.Module):
    """What the diffusion model and the flow model (:class:`~fmd_utils.flow.LatentFlow`) share: a conditional
    ``denoiser`` network over standardised latents, the ``normalizer`` that puts raw latents in those coordinates, and
    classifier-free guidance of the network's output."""

    denoiser: Denoiser  # any registered architecture (fmd_utils.denoisers)
    normalizer: LatentNormalizer

    @property
    def null_class(self) -> int:
        return self.denoiser.null_class

    @property
    def latent_dim(self) -> int:
        return self.denoiser.latent_dim

    @property
    def device(self) -> torch.device:
        return self.normalizer.mean.device

    def network(self, z_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """f_θ(z_t, t, y): the denoiser as the model calls it."""
        return self.denoiser(z_t, t, y)

    def guided(self, z_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor, guidance: float = 1.0) -> torch.Tensor:
        """The guided output f̃ for standardised ``z_t`` at times ``t`` and classes ``y``.

        guidance = 1 needs only the conditional pass, guidance = 0 only the unconditional one; otherwise both run
        in a single batch. Samplers validate ``guidance`` (:class:`~fmd_utils.settings.SamplingSettings`)."""
        null = torch.full_like(y, self.null_class)
        if guidance == 1.0:
            return self.network(z_t, t, y)
        if guidance == 0.0:
            return self.network(z_t, t, null)
        both = self.network(torch.cat([z_t, z_t]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = both.chunk(2)
        return uncond + guidance * (cond - uncond)  # f̃ = f(∅) + w (f(y) − f(∅))


class LatentDiffusion(LatentModel):
    """A denoiser (any registered architecture), its noise schedule, what it predicts, the latent normaliser and
    the sampling settings it was tuned for, in one module that moves with ``.to(device)``."""

    def __init__(
        self,
        denoiser: Denoiser | None = None,
        schedule: NoiseSchedule | None = None,
        prediction: str = "eps",
        normalizer: LatentNormalizer | None = None,
        sampling: SamplingSettings | None = None,
    ) -> None:
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        self.denoiser = denoiser or build_denoiser()
        self.schedule = schedule or NoiseSchedule()
        self.prediction = prediction
        self.normalizer = normalizer or LatentNormalizer(self.latent_dim)
        self.sampling = (sampling or SamplingSettings()).validate(self.num_steps)

    @property
    def num_steps(self) -> int:
        return self.schedule.num_steps

    # ------------------------------------------------------------------------------------------- training
    def loss(
        self, z0: torch.Tensor, y: torch.Tensor, generator: torch.Generator, p_uncond: float = 0.0,
        shard: tuple[int, int] = (0, 1),
    ) -> torch.Tensor:
        """Mean squared error of the prediction on a batch of raw latents ``z0`` with labels ``y``, at random t, ε
        and label dropout, all drawn from ``generator`` on its own device and moved to z0's (a CPU generator gives
        the same draws whether the model trains on the CPU or a GPU). Under DDP the batch is part ``shard = (i, n)``
        of a global batch: the randomness is drawn for the whole of it and part i kept, so the ranks together draw
        what one process would (:mod:`fmd_utils.distributed`)."""
        n, at = z0.shape[0] * shard[1], generator.device  # the global batch: this is part shard[0] of shard[1]
        t = torch.randint(0, self.num_steps, (n,), generator=generator, device=at)  # t ~ U{0..T-1}
        noise = torch.randn((n, *z0.shape[1:]), generator=generator, device=at)  # ε ~ N(0, I)
        drop = torch.rand(n, generator=generator, device=at) < p_uncond  # y' = ∅ with prob. p_uncond
        return self.loss_at(z0, y, *(part(v, shard).to(z0.device) for v in (t, noise, drop)))

    def loss_at(
        self, z0: torch.Tensor, y: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
        drop: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The same loss at given timesteps ``t``, noise ``noise`` and dropped labels ``drop`` (bool, optional)."""
        z0 = self.normalizer.normalize(z0)  # z̃_0 = (z_0 − μ)/σ
        z_t = self.schedule.q_sample(z0, t, noise)  # z_t = √ᾱ_t z̃_0 + √(1−ᾱ_t) ε
        if drop is not None:
            y = torch.where(drop, torch.full_like(y, self.null_class), y)  # y' = ∅ where dropped
        target = self.target(z0, t, noise)
        return nn.functional.mse_loss(self.denoiser(z_t, t, y), target)  # ‖target − f_θ(z_t, t, y')‖²

    def target(self, z0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network learns to output for standardised ``z0`` noised with ``noise`` at ``t``: ε or v."""
        return noise if self.prediction == "eps" else self.schedule.velocity(z0, t, noise)

    # ------------------------------------------------------------------------------------------- sampling
    def predict(
        self, z_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor, guidance: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Guided (ε̂, ẑ_0) for standardised noisy latents ``z_t`` at timesteps ``t`` and classes ``y``: the guided
        output (:meth:`guided`, ε̂ or v̂) converted by :meth:`eps_and_x0`."""
        return self.eps_and_x0(z_t, t, self.guided(z_t, t, y, guidance))

    def eps_and_x0(self, z_t: torch.Tensor, t: torch.Tensor, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ε̂, ẑ_0) from the network's output ``out`` (ε̂ or v̂) at ``z_t``, t: the one place the two
        parameterisations are converted."""
        s = self.schedule
        if self.prediction == "eps":
            return out, s.predict_x0(z_t, t, out)  # ẑ_0 = (z_t − √(1−ᾱ) ε̂)/√ᾱ
        a, b = s.gather("sqrt_alpha_bar", t, z_t), s.gather("sqrt_one_minus_alpha_bar", t, z_t)
        return b * z_t + a * out, a * z_t - b * out  # ε̂ = √(1−ᾱ) z_t + √ᾱ v̂,  ẑ_0 = √ᾱ z_t − √(1−ᾱ) v̂

    def add_noise(self, z0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The forward process for raw latents: standardise, jump to step t, and return the raw-coordinate z_t
        (what the decoder can show)."""
        z_t = self.schedule.q_sample(self.normalizer.normalize(z0), t, noise)
        return self.normalizer.denormalize(z_t)
