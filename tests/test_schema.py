"""The shared schema and vocabularies."""

from __future__ import annotations

import datasets
import pytest

from mmsafety.benchmarks import repo_id
from mmsafety.labels import LABELS
from mmsafety.schema import COLUMNS, features


def test_shared_columns_in_order_with_image_and_classlabel() -> None:
    schema = features({"source": datasets.Value("string")})
    assert list(schema) == [*COLUMNS, "source"]
    assert isinstance(schema["image"], datasets.Image)
    assert schema["label"].names == list(LABELS) == ["safe", "unsafe", "oversensitive"]


def test_extra_column_may_not_replace_a_shared_one() -> None:
    with pytest.raises(ValueError, match="label"):
        features({"label": datasets.Value("string")})


def test_repo_id() -> None:
    assert repo_id("vlsbench") == "mmsafety/vlsbench"
