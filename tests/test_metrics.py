import pytest
import torch

from fmd_utils.metrics import (
    confusion_matrix,
    frechet_distance,
    kernel_distance,
    knn_radii,
    nearest_neighbour_distance,
    precision_recall,
    psnr,
)


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


def test_precision_recall_of_identical_and_disjoint_sets(generator):
    a = torch.randn(500, 8, generator=generator)
    assert precision_recall(a, a) == (1.0, 1.0)
    assert precision_recall(a, a + 100.0) == (0.0, 0.0)


def test_precision_recall_of_a_subset_counts_the_missing_mode(generator):
    # two well-separated clusters; a model that makes only the first one is precise but reaches 300 / 500 of reality
    first, second = torch.randn(300, 8, generator=generator), torch.randn(200, 8, generator=generator) + 50.0
    real = torch.cat([first, second])
    assert precision_recall(real, first) == (1.0, pytest.approx(300 / 500))
    # and the other way round: samples of both clusters judged against a real set holding only the first
    assert precision_recall(first, real) == (pytest.approx(300 / 500), 1.0)


def test_precision_recall_by_hand_in_one_dimension():
    # k = 1: real balls [-1, 1], [0, 2], [1, 5]; generated balls [-2, 3], [0.5, 10.5], [-4.5, 0.5]
    real, generated = torch.tensor([[0.0], [1.0], [3.0]]), torch.tensor([[0.5], [5.5], [-2.0]])
    torch.testing.assert_close(knn_radii(real, k=1), torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64))
    assert precision_recall(real, generated, k=1) == (pytest.approx(1 / 3), 1.0)


def test_precision_recall_tell_a_collapsed_model_from_a_noisy_one(generator):
    real = torch.randn(1000, 8, generator=generator)
    collapsed = 0.3 * torch.randn(1000, 8, generator=generator)  # too little variety: precise, low recall
    noisy = 3.0 * torch.randn(1000, 8, generator=generator)  # too much: high recall, low precision
    same = torch.randn(1000, 8, generator=generator)
    p_same, r_same = precision_recall(real, same)
    p_col, r_col = precision_recall(real, collapsed)
    p_noisy, r_noisy = precision_recall(real, noisy)
    assert p_col > p_same - 0.05 and r_col < 0.5 * r_same
    assert r_noisy > r_same - 0.05 and p_noisy < 0.5 * p_same


def test_precision_recall_refuse_bad_input(generator):
    a = torch.randn(10, 4, generator=generator)
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(a, a, k=10)
    with pytest.raises(ValueError, match="equal d"):
        precision_recall(a, torch.randn(10, 5, generator=generator))
