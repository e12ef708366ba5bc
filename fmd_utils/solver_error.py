r"""Solver error alone: every sampler run on a model whose exact answer we know, against its step count.

A trained model errs twice: its network is not the true ε*, and its solver takes finite steps. On
:class:`~fmd_utils.gaussian.ClassGaussians` (one Gaussian per class, fitted to the standardised training latents)
the network *is* ε*, and the probability-flow ODE's end point from any start is in closed form
(:meth:`~fmd_utils.gaussian.ClassGaussians.ode_endpoint`), so what remains is the solver's error:

- **end-point error**: the root-mean-square distance, per latent coordinate, between where the solver lands and where
  the exact ODE lands from the same noise (deterministic solvers only);
- **W2**: the closed-form squared Wasserstein-2 distance between the Gaussian fitted to each class's samples and the
  class's own Gaussian, averaged over classes (any solver, stochastic ones too), beside the *sampling floor*: the same
  distance for as many exact samples, what finite samples alone give (itself one noisy estimate: a solver's samples
  can land a little below it).

A solver of order p has a global error that falls like h^p = NFE^{-p}: on a log-log plot of error against network
evaluations, a line of slope −p (:func:`fitted_order`). The diffusion samplers run on the Gaussians through
:class:`~fmd_utils.diffusion.LatentDiffusion` and the flow solvers through :class:`~fmd_utils.flow.LatentFlow`,
unchanged: the same code that samples the trained models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .diffusion import LatentDiffusion
from .flow import FlowSettings, LatentFlow, flow_steps
from .gaussian import ClassGaussians, gaussian_w2
from .progress import progress as progress_bar
from .samplers import get_sampler, sampler_steps
from .settings import SamplingSettings


@dataclass(frozen=True)
class Solver:
    """One solver of the study: a registered diffusion sampler (``model="diffusion"``, with DDIM's ``eta``) or a flow
    solver (``model="flow"``: "euler" or "heun")."""

    model: str
    name: str
    eta: float = 0.0

    @property
    def title(self) -> str:
        if self.model == "flow":
            return f"flow {self.name.capitalize()}"
        eta = f", η = {self.eta:g}" if self.eta else ""
        return f"{get_sampler(self.name).title}{eta}"

    @property
    def deterministic(self) -> bool:
        return self.eta == 0 and not (self.model == "diffusion" and self.name == "ddpm")

    def settings(self, steps: int) -> SamplingSettings | FlowSettings:
        if self.model == "flow":
            return FlowSettings(sampler=self.name, steps=steps).validate()
        return SamplingSettings(sampler=self.name, steps=steps, eta=self.eta)

    def nfe(self, steps: int, num_timesteps: int = 1000) -> int:
        """Network evaluations per sample at ``steps`` steps."""
        if self.model == "flow":
            return self.settings(steps).nfe
        return get_sampler(self.name).nfe(self.settings(steps), num_timesteps)

    def steps_for(self, budget: int, num_timesteps: int = 1000) -> int:
        """The most steps whose evaluations fit in ``budget`` (at least one step)."""
        steps = 1
        while steps < num_timesteps and self.nfe(steps + 1, num_timesteps) <= budget:
            steps += 1
        return steps


DIFFUSION_SOLVERS = (Solver("diffusion", "ddim"), Solver("diffusion", "ddim-trailing"),
                     Solver("diffusion", "dpm++2m"), Solver("diffusion", "dpm++2m-karras"),
                     Solver("diffusion", "heun"), Solver("diffusion", "heun-straight"))
FLOW_SOLVERS = (Solver("flow", "euler"), Solver("flow", "heun"))
SOLVERS = DIFFUSION_SOLVERS + FLOW_SOLVERS


def exact_diffusion(gaussians: ClassGaussians) -> LatentDiffusion:
    """The Gaussians as a diffusion model (identity normaliser: they live in standardised coordinates)."""
    return LatentDiffusion(gaussians, gaussians.schedule, gaussians.prediction)


def exact_flow(gaussians: ClassGaussians) -> LatentFlow:
    """The Gaussians as a flow model: the exact velocity of the straight path."""
    return LatentFlow(gaussians.velocity())


def solve(model: LatentDiffusion | LatentFlow, solver: Solver, steps: int, labels: torch.Tensor,
          noise: torch.Tensor, generator: torch.Generator | None = None,
          start_t: int | None = None) -> tuple[torch.Tensor, float, float]:
    """Run ``solver`` for ``steps`` steps from standardised ``noise`` for ``labels`` (guidance 1), taken as the
    latents at the sampler's first timestep (``start_t``, default its own: T − 1, or σ̄ = 80 on the Karras grid).
    Returns the end points in standardised coordinates and the start's (a, s): z_start = a z_0 + s ε."""
    generator = generator or torch.Generator().manual_seed(0)
    raw = model.normalizer.denormalize(noise)
    if solver.model == "flow":
        if not isinstance(model, LatentFlow):
            raise ValueError(f"{solver.title} solves a flow model; got a {type(model).__name__}")
        last = list(flow_steps(model, labels, generator, solver.settings(steps), z=raw))[-1]
        return model.normalizer.normalize(last.z), 0.0, 1.0
    if not isinstance(model, LatentDiffusion):
        raise ValueError(f"{solver.title} samples a diffusion model; got a {type(model).__name__}")
    walk = list(sampler_steps(model, labels, generator, solver.settings(steps), z=raw, start_t=start_t))
    a = float(model.schedule.alpha_bar.double()[walk[0].t].sqrt())
    return model.normalizer.normalize(walk[-1].z), a, math.sqrt(1 - a * a)


def class_w2(gaussians: ClassGaussians, samples: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over classes of W2² between the Gaussian of each class's ``samples`` and the class's own Gaussian."""
    distances = []
    for c in labels.unique().tolist():
        x = samples[labels == c].double()
        distances.append(gaussian_w2(x.mean(0), torch.cov(x.T), gaussians.means[c], gaussians.covariances[c]))
    return sum(distances) / len(distances)


def exact_samples(gaussians: ClassGaussians, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Samples of each row's class Gaussian: μ_y + U √λ ξ."""
    xi = torch.randn((len(labels), gaussians.latent_dim), generator=generator, dtype=torch.float64)
    return gaussians.ode_endpoint(xi, 0.0, 1.0, labels)  # μ_y + U √λ Uᵀ ξ: the flow's exact map of pure noise


def sampling_floor(gaussians: ClassGaussians, labels: torch.Tensor, seed: int = 0) -> float:
    """:func:`class_w2` of as many exact samples as ``labels``: the W2 that finite samples alone give."""
    return class_w2(gaussians, exact_samples(gaussians, labels, torch.Generator().manual_seed(seed)), labels)


def solver_study(gaussians: ClassGaussians, solvers=SOLVERS, budgets=(4, 8, 16, 32, 64), per_class: int = 500,
                 endpoint_rows: int = 500, seed: int = 0, progress: bool = False) -> list[dict]:
    """Each solver at the most steps that fit each budget of network evaluations, on ``per_class`` samples of every
    class from the same noise (seed ``seed``): rows {model, solver, steps, nfe, w2, endpoint} (``endpoint``, the RMS
    distance to the exact ODE's end point over the first ``endpoint_rows`` rows, None for stochastic solvers)."""
    classes = gaussians.null_class
    labels = torch.arange(classes).repeat_interleave(per_class)
    noise = torch.randn((len(labels), gaussians.latent_dim), generator=torch.Generator().manual_seed(seed))
    models = {"diffusion": exact_diffusion(gaussians), "flow": exact_flow(gaussians)}
    plan = [(solver, solver.steps_for(budget)) for solver in solvers for budget in budgets]
    plan = list(dict.fromkeys(plan))  # a budget that buys no more steps than the one before gives no new row
    rows = []
    for solver, steps in progress_bar(plan, progress, desc="solver error"):
        end, a, s = solve(models[solver.model], solver, steps, labels, noise, torch.Generator().manual_seed(seed + 1))
        endpoint = None
        if solver.deterministic:
            pick = torch.linspace(0, len(labels) - 1, endpoint_rows).long()  # every class in the subset
            exact = gaussians.ode_endpoint(noise[pick].double(), a, s, labels[pick])
            endpoint = float(((end[pick].double() - exact) ** 2).mean().sqrt())
        rows.append({"model": solver.model, "solver": solver.title, "name": solver.name, "eta": solver.eta,
                     "steps": steps, "nfe": solver.nfe(steps), "w2": class_w2(gaussians, end, labels),
                     "endpoint": endpoint})
    return rows


def fitted_order(nfes, errors) -> float:
    """−(slope) of the least-squares line through (log NFE, log error): the observed order of convergence."""
    x = torch.tensor([math.log(n) for n in nfes], dtype=torch.float64)
    y = torch.tensor([math.log(e) for e in errors], dtype=torch.float64)
    x, y = x - x.mean(), y - y.mean()
    return float(-(x * y).sum() / (x * x).sum())
