r"""A small diffusion transformer (DiT, Peebles & Xie, 2023) over the latent vector: the second registered denoiser.

**Tokens.** The 64 numbers are cut into K tokens of 64/K (K = 8: 8 numbers each), each projected to the width W
and given a learned position embedding. As with the UNet's bottleneck attention, the tokens are groups of
coordinates, not image patches: the autoencoder's latent has no spatial layout, so attention learns which groups
matter to each other.

**adaLN-Zero blocks.** The condition e = MLP(PE(t)) + E[y] (the embeddings the UNet uses) sets, per block, a shift,
a scale and a gate for each of the two sub-layers:

.. math::
    \begin{aligned}
    (\beta_1, \gamma_1, g_1, \beta_2, \gamma_2, g_2) &= W_c\,\mathrm{SiLU}(e),\\
    x &\leftarrow x + g_1 \odot \mathrm{Attn}\big(\mathrm{LN}(x)(1+\gamma_1) + \beta_1\big),\\
    x &\leftarrow x + g_2 \odot \mathrm{MLP}\big(\mathrm{LN}(x)(1+\gamma_2) + \beta_2\big)
    \end{aligned}

W_c starts at zero ("-Zero"): every gate is 0 at initialisation, so each block starts as the identity, and so does
the zero-initialised output layer (the network starts by predicting 0, as the UNet does). The condition depends on
(t, y) only, so it is computed once per distinct pair (:func:`~fmd_utils.embeddings.distinct_conditions`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..embeddings import ClassEmbedding, TimeEmbedding, distinct_conditions
from .base import Architecture, check_inputs, register


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of :class:`LatentDiT` (the ``"dit"`` denoiser). The defaults have about the UNet's number of
    parameters (0.25 M against 0.26 M)."""

    latent_dim: int = 64
    tokens: int = 8  # the latent is cut into this many tokens of latent_dim / tokens numbers
    width: int = 64  # W: each token's width inside the transformer
    depth: int = 4  # transformer blocks
    heads: int = 4
    mlp_ratio: int = 2  # the MLP's hidden width is mlp_ratio × W
    embed_dim: int = 64
    num_classes: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """LN(x)(1 + γ) + β with one (β, γ) per sample, broadcast over its tokens."""
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """One adaLN-Zero transformer block (see the module docstring)."""

    def __init__(self, width: int, heads: int, mlp_ratio: int, embed_dim: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must divide by heads {heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.SiLU(),
                                 nn.Linear(mlp_ratio * width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(embed_dim, 6 * width))
        nn.init.zeros_(self.ada[-1].weight)  # adaLN-Zero: gates start at 0, the block at the identity
        nn.init.zeros_(self.ada[-1].bias)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        n, k, w = x.shape
        q, key, v = self.qkv(x).reshape(n, k, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        mixed = nn.functional.scaled_dot_product_attention(q, key, v)  # softmax(QKᵀ/√d) V per head
        return self.proj(mixed.transpose(1, 2).reshape(n, k, w))

    def forward(self, x: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        """``x`` (N, K, W) tokens, ``modulation`` (N, 6W) = ``self.ada(e)`` per row (the caller computes it once per
        distinct condition and gathers)."""
        shift1, scale1, gate1, shift2, scale2, gate2 = modulation.chunk(6, dim=1)  # W_c SiLU(e)
        x = x + gate1[:, None] * self.attention(modulate(self.norm1(x), shift1, scale1))  # x + g₁ Attn(…)
        return x + gate2[:, None] * self.mlp(modulate(self.norm2(x), shift2, scale2))  # x + g₂ MLP(…)


class LatentDiT(nn.Module):
    """f_θ(z_t, t, y) as a small transformer over K tokens of the latent; the same inputs and output as
    :class:`~fmd_utils.denoisers.unet.ConditionalLatentUNet`. Registered as the ``"dit"`` denoiser."""

    architecture = "dit"

    def __init__(self, config: DiTConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or DiTConfig()
        if c.latent_dim % c.tokens:
            raise ValueError(f"latent_dim {c.latent_dim} must split into {c.tokens} equal tokens")
        self.token_size = c.latent_dim // c.tokens
        self.time_embedding = TimeEmbedding(c.embed_dim)
        self.class_embedding = ClassEmbedding(c.num_classes, c.embed_dim)
        self.input = nn.Linear(self.token_size, c.width)
        self.position = nn.Parameter(torch.randn(1, c.tokens, c.width) * 0.02)
        self.blocks = nn.ModuleList([DiTBlock(c.width, c.heads, c.mlp_ratio, c.embed_dim) for _ in range(c.depth)])
        self.final_norm = nn.LayerNorm(c.width, elementwise_affine=False)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(c.embed_dim, 2 * c.width))
        self.output = nn.Linear(c.width, self.token_size)
        for layer in (self.final_ada[-1], self.output):  # the network starts by predicting 0
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def null_class(self) -> int:
        return self.class_embedding.null_class

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def forward(self, z: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_inputs(z, t, y, self.latent_dim)
        emb, index = distinct_conditions(self.time_embedding, self.class_embedding, t, y)

        def per_row(per_pair: torch.Tensor) -> torch.Tensor:  # computed once per distinct (t, y), gathered per row
            return per_pair if index is None else per_pair.index_select(0, index)

        x = self.input(z.reshape(len(z), self.config.tokens, self.token_size)) + self.position  # tokens + P
        for block in self.blocks:
            x = block(x, per_row(block.ada(emb)))
        shift, scale = per_row(self.final_ada(emb)).chunk(2, dim=1)
        return self.output(modulate(self.final_norm(x), shift, scale)).reshape(z.shape)


DIT = register(Architecture("dit", "DiT (adaLN-Zero) over latent tokens", LatentDiT, DiTConfig))
