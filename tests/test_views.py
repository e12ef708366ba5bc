"""Trajectories, figures and scrubbers, on a tiny randomly initialised pipeline (behaviour, not beauty)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from fmd_utils.autoencoder import Autoencoder, AutoencoderConfig  # noqa: E402
from fmd_utils.denoisers import ConditionalLatentUNet, DenoiserConfig  # noqa: E402
from fmd_utils.diffusion import LatentDiffusion  # noqa: E402
from fmd_utils.normalizer import LatentNormalizer  # noqa: E402
from fmd_utils.pipeline import LatentDiffusionPipeline  # noqa: E402
from fmd_utils.schedule import NoiseSchedule  # noqa: E402
from fmd_utils.settings import SamplingSettings  # noqa: E402
from fmd_utils.trajectory import forward_trajectory, reverse_trajectory  # noqa: E402
from fmd_utils.views import (  # noqa: E402
    create_diffusion_animation,
    timestep_player,  # noqa: E402
    visualize_denoising_steps,
)


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    autoencoder = Autoencoder(AutoencoderConfig(channels=(8, 16), blocks=1)).eval()
    diffusion = LatentDiffusion(ConditionalLatentUNet(DenoiserConfig(widths=(32, 64), embed_dim=16)),
                                NoiseSchedule("cosine", 1000), "v", LatentNormalizer.fit(torch.randn(100, 64) * 2),
                                SamplingSettings(guidance=3.0, guidance_interval=(100, 799))).eval()
    return LatentDiffusionPipeline(autoencoder, diffusion)


def test_reverse_trajectory_runs_from_noise_to_clean(pipe):
    traj = reverse_trajectory(pipe, "Dress", steps=10, seed=3)
    assert traj.timesteps[0] == 999 and traj.timesteps[-1] == -1 and len(traj.timesteps) == 11
    assert traj.images.shape == (11, 1, 28, 28) and traj.x0_images.shape == (11, 1, 28, 28)
    assert traj.noise_levels[0] > 0.99 and traj.noise_levels[-1] == 0.0
    again = reverse_trajectory(pipe, 3, steps=10, seed=3)
    assert torch.equal(traj.latents, again.latents)
    # the final latent is what pipe.sample_latents returns for the same seed (both with the model's stored
    # guidance and interval), bit for bit: one code path, not a replica; and the first is the sampler's z_T
    assert torch.equal(traj.latents[-1:], pipe.sample_latents(["Dress"], steps=10, seed=3))
    z_T = torch.randn(1, 64, generator=torch.Generator().manual_seed(3))  # noqa: N806 - the paper's name
    torch.testing.assert_close(traj.latents[:1], pipe.diffusion.normalizer.denormalize(z_T))


def test_forward_trajectory_noise_grows(pipe):
    image = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    traj = forward_trajectory(pipe, image, [-1, 100, 500, 999])
    assert traj.noise_levels == sorted(traj.noise_levels) and traj.noise_levels[0] == 0.0
    torch.testing.assert_close(traj.images[0:1], pipe.autoencoder(image[None]))
    # raw latents: noising at t then standardising gives √ᾱ z̃0 + √(1−ᾱ) ε with the shared ε
    eps = torch.randn(1, 64, generator=torch.Generator().manual_seed(0))
    z0 = pipe.diffusion.normalizer.normalize(traj.latents[:1])
    a = pipe.diffusion.schedule.alpha_bar[500]
    torch.testing.assert_close(pipe.diffusion.normalizer.normalize(traj.latents[2:3]),
                               a.sqrt() * z0 + (1 - a).sqrt() * eps, atol=1e-5, rtol=1e-5)
    assert traj.labels()[0].startswith("clean") and "t = 999" in traj.labels()[-1]


def test_visualize_denoising_steps_labels_columns_from_noise_to_image(pipe):
    fig = visualize_denoising_steps(pipe, "Sandal", steps=10, n_columns=4)
    titles = [ax.get_title() for ax in fig.axes[:4]]
    assert titles[0].startswith("t=999") and titles[-1] == "clean"
    matplotlib.pyplot.close(fig)


def test_animation_reverse_half_is_generated_not_replayed(pipe, tmp_path):
    image = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(1))
    animation = create_diffusion_animation(pipe, image, "Coat", frames_each_way=5, save_path=tmp_path / "a.gif")
    frames, labels = animation.frames_data, animation.frame_labels
    assert len(frames) == len(labels) == 1 + 5 + 5
    assert labels[0].startswith("forward") and labels[-1].startswith("reverse")
    assert not torch.allclose(frames[-1], frames[0])  # a new sample, not the original played back
    assert (tmp_path / "a.gif").read_bytes()[:3] == b"GIF"


def test_timestep_player_live_and_static():
    frames = [torch.full((1, 4, 4), v) for v in (0.0, 0.5, 1.0)]
    player = timestep_player(frames, ["a", "b", "c"])
    html = player.to_jshtml()
    assert "<script" in html and "anim" in html and html.count("data:image/png;base64") >= 3
    assert "font-awesome" not in html and 'class="fa ' not in html and "\u25b6" in html  # offline buttons
    box = player.widget()
    assert box.slider.max == 2 and box.play.max == 2
    first = box.image.value
    box.slider.value = 2  # what the play button does through jslink in the browser
    assert box.image.value != first and box.image.value == player._png[2]
    bundle = player._repr_mimebundle_()
    assert "<script" in bundle["text/html"]  # the static fallback travels with the live widget
    with pytest.raises(ValueError, match="one label per frame"):
        timestep_player(frames, ["a"])
