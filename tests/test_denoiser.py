import pytest
import torch

from fmd_utils.denoiser import ConditionalLatentUNet, DenoiserConfig, TokenSelfAttention
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
