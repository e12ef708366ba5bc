r"""How to sample: one frozen object for the sampler, its number of steps, the guidance weight, where guidance applies,
and DDIM's stochasticity. Every sampler, the pipeline and the command lines take one :class:`SamplingSettings`;
:meth:`SamplingSettings.validate` is the only place their values are checked.

The tuned default is stored with the diffusion checkpoint (``config["sampling"]``), because a guidance interval in
timesteps only means something for the schedule it was tuned on: ``pipe.diffusion.sampling`` is that default, and
``settings.replace(guidance=2.0)`` changes one field.

**Guidance on an interval** (Kynkäänniemi et al., 2024). Classifier-free guidance costs a second network pass per
step. At the noisiest steps it pushes every sample of a class towards the same few "typical" shapes (less diversity,
worse FID); at the cleanest the class is long decided. So the weight applies only for lo ≤ t ≤ hi:

.. math::
    w_t = w \ \text{if } t_{lo} \le t \le t_{hi}, \quad 1 \ \text{otherwise (plain conditional, one pass)}
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from .checks import is_int, is_real
from .samplers import get_sampler


class GuidedSettings:
    """What the settings of every sampler share (diffusion's :class:`SamplingSettings`, the flow's
    :class:`~fmd_utils.flow.FlowSettings`): a guidance weight applied on an interval of the model's time, copies with
    fields changed, and the stored form. Subclasses are frozen dataclasses with ``guidance`` and
    ``guidance_interval`` fields."""

    _kind = "sampling"  # how errors name these settings

    def __post_init__(self) -> None:
        if isinstance(self.guidance_interval, list):  # as stored in a checkpoint or a JSON report
            object.__setattr__(self, "guidance_interval", tuple(self.guidance_interval))

    def replace(self, **changes):
        """A copy with some fields changed (unknown names raise a TypeError naming the valid ones)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            valid = [f.name for f in fields(self)]
            raise TypeError(f"unknown {self._kind} setting(s) {sorted(unknown)}; valid: {valid}")
        return replace(self, **changes)

    def _check_guidance(self) -> None:
        if not is_real(self.guidance) or not 0 <= self.guidance < math.inf:
            raise ValueError(f"guidance must be a finite number >= 0 (0 = unconditional, 1 = plain conditional), "
                             f"got {self.guidance!r}")

    def guidance_at(self, t: float) -> float:
        """w_t: the guidance weight at time t (see the module docstring)."""
        lo, hi = self.guidance_interval or (-math.inf, math.inf)
        return self.guidance if lo <= t <= hi else 1.0  # w_t = w inside [lo, hi], 1 outside

    def interval_label(self) -> str:
        """Where guidance applies, for titles and tables: "every step" or "t ∈ [lo, hi]"."""
        return interval_label(self.guidance_interval)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, stored: dict):
        """Inverse of :meth:`to_dict` (a stored interval comes back as a list)."""
        return cls().replace(**stored)


@dataclass(frozen=True)
class SamplingSettings(GuidedSettings):
    """``sampler``: a registered sampler's name (:func:`fmd_utils.samplers.sampler_names`: "ddim", ``steps``
    evenly spaced timesteps with stochasticity ``eta``; "ddpm", all T ancestral steps; "dpm++2m", DPM-Solver++(2M)
    on DDIM's timesteps; "heun-straight", Heun on the straight path, 2 evaluations per step; and the others of
    chapter 7); guidance weight ``guidance`` (0 = unconditional, 1 = plain conditional) applied for timesteps inside
    ``guidance_interval`` (lo, hi), or on every step when it is None. These defaults are plain DDIM-50 without
    guidance; a trained model stores its own (``LatentDiffusion.sampling``: Heun on the straight path, 8 steps,
    w = 4 on [200, 699] for the shipped one)."""

    sampler: str = "ddim"
    steps: int = 50
    guidance: float = 1.0
    guidance_interval: tuple[int, int] | None = None
    eta: float = 0.0

    def validate(self, num_steps: int) -> SamplingSettings:
        """Check every field for a model with ``num_steps`` = T timesteps; raise a ValueError that names the field
        and its valid range. Returns ``self``, so ``settings.validate(T)`` can stand where ``settings`` would."""
        sampler = get_sampler(self.sampler)  # a ValueError naming the registered samplers
        if not is_int(self.steps) or not 1 <= self.steps <= num_steps:
            raise ValueError(f"steps must be an integer between 1 and T = {num_steps}, got {self.steps!r}")
        self._check_guidance()
        if not is_real(self.eta) or not 0 <= self.eta < math.inf:
            raise ValueError(f"eta must be a finite number >= 0 (0 = deterministic DDIM), got {self.eta!r}")
        interval = self.guidance_interval
        if interval is not None:
            valid = (isinstance(interval, tuple) and len(interval) == 2 and all(is_int(v) for v in interval)
                     and 0 <= interval[0] <= interval[1] <= num_steps - 1)
            if not valid:
                raise ValueError(f"guidance_interval must be None (guide every step) or timesteps (lo, hi) with "
                                 f"0 <= lo <= hi <= {num_steps - 1}, got {interval!r}")
        sampler.validate(self)  # what only this sampler checks
        return self

    def describe(self, num_steps: int | None = None) -> str:
        """One line for a figure title, e.g. "DDIM-50, guidance 4 on t ∈ [100, 799]"."""
        label = get_sampler(self.sampler).label(self, num_steps)
        return f"{label}, guidance {self.guidance:g} on {self.interval_label()}"


def interval_label(interval: tuple[float, float] | list[float] | None) -> str:
    """"every step" or "t ∈ [lo, hi]" for a guidance interval (timesteps or flow times) as stored in a settings
    object or a report."""
    return "every step" if interval is None else f"t ∈ [{interval[0]:g}, {interval[1]:g}]"
