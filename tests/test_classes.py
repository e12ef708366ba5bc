import numpy as np
import pytest

from fmd_utils.classes import CLASS_NAMES, class_index, class_name


@pytest.mark.parametrize(
    ("query", "expected"),
    [("Dress", 3), ("dress", 3), ("  DRESS ", 3), ("T-shirt/top", 0), ("t-shirt", 0), ("tshirt", 0), ("top", 0),
     ("Ankle boot", 9), ("ankle_boot", 9), ("ankle-boot", 9), ("sandal", 5), (7, 7), (np.int64(8), 8)],
)
def test_class_index_accepts_names_and_indices(query, expected):
    assert class_index(query) == expected


def test_class_names_are_the_official_order():
    assert CLASS_NAMES[0] == "T-shirt/top" and CLASS_NAMES[9] == "Ankle boot" and len(CLASS_NAMES) == 10
    assert [class_name(i) for i in range(10)] == list(CLASS_NAMES)


def test_unknown_class_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown class 'Jacket'.*'Dress'.*'Ankle boot'"):
        class_index("Jacket")


@pytest.mark.parametrize("bad", [10, -1, 3.5, True, None])
def test_bad_indices_raise_value_error(bad):
    with pytest.raises(ValueError, match="Valid classes|boolean"):
        class_index(bad)
