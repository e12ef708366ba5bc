import pytest
import torch

from fmd_utils.metrics import confusion_matrix, frechet_distance, kernel_distance, nearest_neighbour_distance, psnr


def test_fid_of_identical_sets_is_zero_and_grows_with_shift(generator):
    a = torch.randn(2000, 8, generator=generator)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # two Gaussians N(0, I) and N(m, I): FID = ‖m‖² exactly in the population
    b = torch.randn(20000, 8, generator=generator)
    shifted = torch.randn(20000, 8, generator=generator) + 1.0
    assert frechet_distance(b, shifted) == pytest.approx(8.0, rel=0.05)


def test_kid_is_near_zero_for_same_distribution_and_positive_otherwise(generator):
    a, b = torch.randn(2, 1500, 8, generator=generator)
    same, _ = kernel_distance(a, b, torch.Generator().manual_seed(0), subsets=5, subset_size=500)
    different, _ = kernel_distance(a, b + 0.5, torch.Generator().manual_seed(0), subsets=5, subset_size=500)
    assert abs(same) < 0.01 and different > 10 * max(abs(same), 1e-3)


def test_psnr_and_confusion_and_nearest_neighbour():
    assert psnr(0.01) == pytest.approx(20.0)
    cm = confusion_matrix(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2]), num_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    ref = torch.zeros(3, 1, 2, 2)
    ref[1] += 1
    d = nearest_neighbour_distance(torch.ones(2, 1, 2, 2), ref)
    torch.testing.assert_close(d, torch.zeros(2))
