import pytest
import torch

from fmd_utils.autoencoder import Autoencoder, AutoencoderConfig

SMALL = AutoencoderConfig(channels=(16, 32), blocks=1)


def test_shapes_and_range(generator):
    model = Autoencoder(SMALL).eval()
    x = torch.rand(5, 1, 28, 28, generator=generator)
    z = model.encode(x)
    assert z.shape == (5, 64) and z.dtype == torch.float32
    out = model.decode(z)
    assert out.shape == (5, 1, 28, 28) and float(out.detach().min()) >= 0 and float(out.detach().max()) <= 1


def test_wrong_shapes_are_explained():
    model = Autoencoder(SMALL)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\).*unsqueeze"):
        model.encode(torch.rand(2, 28, 28))
    with pytest.raises(TypeError, match="to_float"):
        model.encode(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        model.decode(torch.rand(2, 32))


def test_overfits_256_images():
    """The loss on a fixed set of 256 images must fall by at least half within a few hundred steps."""
    gen = torch.Generator().manual_seed(0)
    # structured images (random blobs, smoothed) so there is something to learn beyond the mean
    x = torch.nn.functional.avg_pool2d(torch.rand(256, 1, 28, 28, generator=gen), 5, 1, 2)
    x = (x - x.amin(dim=(2, 3), keepdim=True)) / (x.amax(dim=(2, 3), keepdim=True) - x.amin(dim=(2, 3), keepdim=True))
    torch.manual_seed(0)
    model = Autoencoder(SMALL)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(200):
        batch = x[(step * 64) % 256 : (step * 64) % 256 + 64]
        loss = torch.nn.functional.mse_loss(model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        final = torch.nn.functional.mse_loss(model(x), x).item()
    assert final <= 0.5 * losses[0], (losses[0], final)
