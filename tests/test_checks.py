"""The argument rules every entry point shares: seeds, devices, output files, label containers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fmd_utils.checks import MAX_SEED, check_count, check_seed, seeded_generator
from fmd_utils.classes import class_labels
from fmd_utils.device import resolve_device
from fmd_utils.writable import check_output_file


def test_a_seed_is_an_integer_torch_can_tell_apart():
    assert check_seed(np.int64(7)) == 7 and check_seed(MAX_SEED) == MAX_SEED
    # why the upper bound: torch's generator keeps a seed's low 32 bits, so 5 + 2**32 would repeat seed 5
    same = [torch.randn(3, generator=torch.Generator().manual_seed(s)) for s in (5, 5 + 2**32)]
    assert torch.equal(*same) and MAX_SEED == 2**32 - 1
    for bad, error in [(-1, ValueError), (2**32, ValueError), (1.5, TypeError), ("3", TypeError), (True, TypeError)]:
        with pytest.raises(error, match="seed"):
            check_seed(bad)
    assert torch.equal(torch.randn(2, generator=seeded_generator(3)),
                       torch.randn(2, generator=torch.Generator().manual_seed(3)))
    g = torch.Generator().manual_seed(1)
    assert seeded_generator(g) is g
    with pytest.raises(ValueError, match="count must be an integer >= 2"):
        check_count(1, "count", 2)


@pytest.mark.parametrize("name, message", [
    ("cudax", "device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"),
    (3, "device must be .* got int 3"),
    ("meta", "device must be"),
])
def test_unknown_devices_are_named(name, message):
    with pytest.raises(ValueError, match=message):
        resolve_device(name)


def test_devices_this_machine_lacks_are_refused_as_strings_and_as_torch_devices():
    assert resolve_device(" CPU ") == torch.device("cpu") and resolve_device(None) == torch.device("cpu")
    if not torch.cuda.is_available():
        for name in ("cuda", torch.device("cuda")):
            with pytest.raises(ValueError, match="no CUDA GPU is available; use --device cpu"):
                resolve_device(name)


def test_output_files_are_checked_before_any_work(tmp_path):
    assert check_output_file(tmp_path / "new" / "a.png", "save_path", (".png",)) == tmp_path / "new" / "a.png"
    for path, message in [(tmp_path, "is a folder"), (tmp_path / "a.txt", r"must end in \.png"),
                          (42, "must be a file path")]:
        with pytest.raises(ValueError, match=message):
            check_output_file(path, "save_path", (".png",))


@pytest.mark.parametrize("labels, expected", [
    (np.int64(3), [3]), (np.array([1, 2], dtype=np.uint8), [1, 2]), (np.array(["Dress", "sandal"]), [3, 5]),
    (np.array(4), [4]), ((0, "Bag"), [0, 8]),
])
def test_numpy_and_other_label_containers(labels, expected):
    assert class_labels(labels).tolist() == expected


@pytest.mark.parametrize("labels, message", [
    (np.array([[1, 2]]), "must be 1-D"), (np.array([1.0]), "must be integers or names"),
    (np.array([11]), "Class index 11 is out of range"), (np.array([2**63], dtype=np.uint64), "out of range"),
    (b"ab", "classes must be a class"), ({1, 2}, "classes must be a class"), (None, "classes must be a class"),
])
def test_bad_label_containers_are_named(labels, message):
    with pytest.raises(ValueError, match=message):
        class_labels(labels)
