"""The shared schema and vocabularies."""

from __future__ import annotations

import datasets
import pytest

from mmsafety.benchmarks import repo_id
from mmsafety.labels import LABELS
from mmsafety.schema import COLUMNS, features


def test_shared_columns_come_first_then_the_extra_ones() -> None:
    assert list(features({"source": datasets.Value("string")})) == [*COLUMNS, "source"]


def test_the_image_column_is_an_image_feature() -> None:
    assert isinstance(features()["image"], datasets.Image)


def test_the_label_column_is_a_class_label_in_vocabulary_order() -> None:
    assert features()["label"].names == list(LABELS) == ["safe", "unsafe", "oversensitive"]


def test_extra_column_may_not_replace_a_shared_one() -> None:
    with pytest.raises(ValueError, match="label"):
        features({"label": datasets.Value("string")})


def test_a_builtin_benchmarks_repo_id_is_under_the_mmsafety_organisation() -> None:
    assert repo_id("vlsbench") == "mmsafety/vlsbench"
