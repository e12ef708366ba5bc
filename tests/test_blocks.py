import torch

from fmd_utils.blocks import ChannelAttention, ResidualBlock


def test_channel_attention_gates_each_channel_between_zero_and_one(generator):
    x = torch.randn(4, 16, 7, 7, generator=generator)
    cal = ChannelAttention(16)
    s = cal.channel_weights(x)
    assert s.shape == (4, 16) and bool((s > 0).all() and (s < 1).all())
    torch.testing.assert_close(cal(x), x * s[:, :, None, None])


def test_channel_attention_depends_on_the_image(generator):
    cal = ChannelAttention(8)
    a, b = torch.randn(2, 1, 8, 5, 5, generator=generator)
    assert not torch.allclose(cal.channel_weights(a), cal.channel_weights(b))


def test_residual_block_keeps_shape_and_is_residual(generator):
    block = ResidualBlock(12).eval()
    x = torch.randn(3, 12, 7, 7, generator=generator)
    y = block(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    torch.nn.init.zeros_(block.residual[-1].weight)
    torch.nn.init.zeros_(block.residual[-1].bias)
    torch.testing.assert_close(block(x), x)  # with a zero residual branch the block is the identity
