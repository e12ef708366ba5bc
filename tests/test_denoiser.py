import pytest
import torch

from fmd_utils.denoisers import (
    ConditionalLatentUNet,
    Denoiser,
    DenoiserConfig,
    DiTConfig,
    LatentDiT,
    TokenSelfAttention,
    architecture_names,
    build_denoiser,
)
from fmd_utils.embeddings import ClassEmbedding, sinusoidal_embedding

SMALL = DenoiserConfig(widths=(64, 128), embed_dim=32, attention_heads=2)


def test_sinusoidal_embedding_values():
    e = sinusoidal_embedding(torch.tensor([0, 10]), 8)
    assert e.shape == (2, 8)
    torch.testing.assert_close(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))  # sin 0 = 0, cos 0 = 1
    assert e[1, 0].item() == pytest.approx(torch.sin(torch.tensor(10.0)).item())  # ω_0 = 1
    with pytest.raises(ValueError, match="even"):
        sinusoidal_embedding(torch.tensor([1]), 7)


def test_class_embedding_has_a_null_class():
    emb = ClassEmbedding(10, 16)
    assert emb.null_class == 10 and emb(torch.tensor([0, 10])).shape == (2, 16)
    with pytest.raises(ValueError, match="0..10"):
        emb(torch.tensor([11]))


def test_denoiser_shapes(generator):
    model = ConditionalLatentUNet(SMALL)
    z = torch.randn(6, 64, generator=generator)
    out = model(z, torch.randint(0, 1000, (6,), generator=generator), torch.tensor([0, 1, 2, 3, 9, 10]))
    assert out.shape == (6, 64) and out.dtype == torch.float32


def test_denoiser_depends_on_time_and_class(generator):
    model = ConditionalLatentUNet(SMALL)
    for p in model.parameters():  # zero-initialised output layers would hide the dependence at init
        torch.nn.init.normal_(p, std=0.1, generator=generator)
    z = torch.randn(2, 64, generator=generator)
    base = model(z, torch.tensor([5, 5]), torch.tensor([1, 1]))
    assert not torch.allclose(base, model(z, torch.tensor([500, 500]), torch.tensor([1, 1])))
    assert not torch.allclose(base, model(z, torch.tensor([5, 5]), torch.tensor([2, 2])))


def test_conditioning_per_distinct_pair_equals_per_row(generator):
    """The network embeds each distinct (t, y) once and gathers; the result must equal embedding every row."""
    model = ConditionalLatentUNet(SMALL)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1, generator=generator)
    z = torch.randn(12, 64, generator=generator)
    t = torch.tensor([7, 7, 7, 900, 900, 7, 0, 0, 999, 7, 900, 7])
    y = torch.tensor([3, 3, 10, 3, 3, 5, 0, 10, 9, 3, 1, 10])
    emb, index = model.conditions(t, y)
    assert emb.shape == (8, SMALL.embed_dim) and index.shape == (12,)  # 8 distinct (t, y) pairs
    torch.testing.assert_close(model(z, t, y), model(z, t.float(), y))  # real-valued t: per-row embedding
    with pytest.raises(ValueError, match="0..10"):  # 11 must not pass as "t + 1, class 0"
        model(z[:1], torch.tensor([5]), torch.tensor([11]))


def test_denoiser_rejects_wrong_shapes():
    model = ConditionalLatentUNet(SMALL)
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        model(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="match the batch"):
        model(torch.zeros(2, 64), torch.zeros(3, dtype=torch.long), torch.zeros(2, dtype=torch.long))


def test_token_attention_mixes_tokens(generator):
    attention = TokenSelfAttention(32, tokens=4, heads=2)
    torch.nn.init.normal_(attention.out.weight, generator=generator)
    h = torch.randn(3, 32, generator=generator)
    weights = attention.attention_weights(h)
    assert weights.shape == (3, 4, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    changed = h.clone()
    changed[:, :8] += torch.randn(3, 8, generator=generator)  # perturb token 0 only ...
    delta = attention(changed) - attention(h)
    assert delta[:, 8:].abs().max() > 1e-4  # ... and the other tokens' outputs change: attention mixed them


# --------------------------------------------------------------------------------------------------- the registry
@pytest.mark.parametrize("name", architecture_names())
def test_every_registered_denoiser_meets_the_contract(name, generator):
    """What the diffusion and flow models need: (z, t, y) → z's shape for integer and real t, the null class, the
    latent size, the architecture's name; and a fresh network predicts 0 (its output layer starts at zero)."""
    small = {"unet": DenoiserConfig(widths=(32, 64), embed_dim=16),
             "dit": DiTConfig(width=16, depth=2, heads=2, embed_dim=16)}[name]
    model = build_denoiser(name, small)
    assert isinstance(model, Denoiser) and model.architecture == name
    assert model.latent_dim == 64 and model.null_class == 10
    z, y = torch.randn(5, 64, generator=generator), torch.tensor([0, 3, 9, 10, 3])
    for t in (torch.randint(0, 1000, (5,), generator=generator), torch.rand(5, generator=generator) * 1000):
        assert torch.equal(model(z, t, y), torch.zeros(5, 64))
    with pytest.raises(ValueError, match=r"latents of shape \(N, 64\)"):
        model(torch.zeros(5, 32), torch.zeros(5, dtype=torch.long), y)
    with pytest.raises(ValueError, match="0..10"):
        model(z, torch.zeros(5, dtype=torch.long), torch.tensor([0, 1, 2, 3, 11]))
    # the stored form rebuilds the same architecture (what a checkpoint does)
    assert build_denoiser(name, small.to_dict()).config == small


def test_the_registry_refuses_unknown_names_and_settings():
    with pytest.raises(ValueError, match=r"denoiser architecture must be one of \('dit', 'unet'\)"):
        build_denoiser("transformer")
    with pytest.raises(TypeError, match=r"unknown dit setting\(s\) \['widths'\]"):
        build_denoiser("dit", {"widths": [32, 64]})
    with pytest.raises(TypeError, match="a unet denoiser needs a DenoiserConfig"):
        build_denoiser("unet", DiTConfig())


def test_dit_conditions_through_adaln_and_trains(generator):
    """After a few steps the DiT's output depends on t and on y (adaLN-Zero opens its gates), and the loss falls."""
    torch.manual_seed(0)
    model = LatentDiT(DiTConfig(width=32, depth=2, heads=2, embed_dim=32))
    assert sum(p.numel() for p in model.parameters()) > 0
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    z = torch.randn(64, 64, generator=generator)
    t, y = torch.randint(0, 1000, (64,), generator=generator), torch.randint(0, 10, (64,), generator=generator)
    target = z * (t[:, None] / 1000) + y[:, None] / 10  # depends on all three inputs
    losses = []
    for _ in range(60):
        loss = ((model(z, t, y) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        base = model(z[:1], t[:1], y[:1])
        assert not torch.allclose(base, model(z[:1], t[:1] // 2, y[:1]))
        assert not torch.allclose(base, model(z[:1], t[:1], (y[:1] + 1) % 10))


def test_the_full_size_dit_has_about_the_unets_parameters():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    dit, unet = count(LatentDiT(DiTConfig())), count(ConditionalLatentUNet(DenoiserConfig()))
    assert 0.9 < dit / unet < 1.1, (dit, unet)
