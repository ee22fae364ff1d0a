"""Validation carving (deterministic, disjoint, sized) and subject folds."""

from __future__ import annotations

import numpy as np
import pytest

from trainables.common.errors import ConfigError
from trainables.things_eeg2.protocols import leave_one_subject_out
from trainables.things_eeg2.splits import carve_validation, default_val_count


def _concepts(n_concepts: int, per: int = 10) -> list[str]:
    return [f"{c:05d}_c{c}" for c in range(n_concepts) for _ in range(per)]


def test_full_scale_holds_out_200_whole_concepts() -> None:
    concepts = _concepts(1654)
    split = carve_validation(concepts, "concepts", seed=0)
    assert len(split.held_out_concepts) == 200
    assert len(split.val_idx) == 2000 and len(split.train_idx) == 14540
    val = {concepts[i] for i in split.val_idx}
    train = {concepts[i] for i in split.train_idx}
    assert val == set(split.held_out_concepts) and not val & train


def test_default_count_scales_with_the_dataset() -> None:
    assert default_val_count(1654) == 200
    assert default_val_count(30) == 4
    assert default_val_count(3) == 1
    assert len(carve_validation(_concepts(30)).held_out_concepts) == 4


@pytest.mark.parametrize("kind", ["concepts", "images"])
def test_deterministic_by_seed_and_a_partition(kind: str) -> None:
    concepts = _concepts(50, 4)
    a = carve_validation(concepts, kind, seed=3)
    b = carve_validation(concepts, kind, seed=3)
    c = carve_validation(concepts, kind, seed=4)
    np.testing.assert_array_equal(a.val_idx, b.val_idx)
    assert not np.array_equal(a.val_idx, c.val_idx)
    both = np.concatenate([a.train_idx, a.val_idx])
    assert sorted(both.tolist()) == list(range(len(concepts)))
    assert np.all(np.diff(a.val_idx) > 0)


def test_images_kind_takes_a_random_fraction_of_images() -> None:
    concepts = _concepts(20, 10)
    split = carve_validation(concepts, "images", seed=1, fraction=0.25)
    assert len(split.val_idx) == 50 and split.held_out_concepts == []
    assert len({concepts[i] for i in split.val_idx}) > 1


def test_explicit_count_and_fraction() -> None:
    concepts = _concepts(40, 2)
    assert len(carve_validation(concepts, count=7).held_out_concepts) == 7
    assert len(carve_validation(concepts, fraction=0.5).held_out_concepts) == 20


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "subjects"}, "validation kind"),
        ({"count": 10}, "between 1 and 9"),
        ({"count": 0}, "between 1 and 9"),
        ({"fraction": 1.0}, "between 0 and 1"),
        ({"count": 2, "fraction": 0.2}, "not both"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        carve_validation(_concepts(10), **kwargs)


def test_leave_one_subject_out_folds() -> None:
    folds = leave_one_subject_out([3, 1, 2])
    assert [(f.train_subjects, f.eval_subject) for f in folds] == [
        ([2, 3], 1),
        ([1, 3], 2),
        ([1, 2], 3),
    ]
    with pytest.raises(ConfigError):
        leave_one_subject_out([1])
