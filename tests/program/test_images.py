"""The training image: read from the SageMaker SDK's table, equal to what the SDK itself returns."""

from __future__ import annotations

import sys

import pytest

from components import images


def table_pairs() -> list[tuple[str, str]]:
    versions = images.image_table()["versions"]
    return [(region, version) for version, entry in versions.items() for region in entry["registries"]]


def test_the_table_answers_every_region_and_version_it_covers_as_the_sdk_does(monkeypatch):
    from sagemaker.core import common_utils, image_uris

    # The SDK re-reads botocore's endpoint data (1.3 MB) on every call: read it once here.
    resolver = common_utils._botocore_resolver()
    monkeypatch.setattr(common_utils, "_botocore_resolver", lambda: resolver)

    pairs = table_pairs()
    assert len(pairs) > 300 and {"1", "1.0-1", "1.7-1", "3.0-5"} <= {version for _, version in pairs}
    answered = {pair: images._from_table(*pair) for pair in pairs}
    assert [pair for pair, uri in answered.items() if uri is None] == []
    expected = {(region, version): image_uris.retrieve("xgboost", region, version) for region, version in pairs}
    assert answered == expected


@pytest.mark.parametrize(
    "region, version, uri",
    [
        ("us-west-2", "1.7-1", "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"),
        ("us-east-1", "1.7-1", "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
        ("cn-north-1", "1.7-1", "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1"),
        ("us-west-2", "1.0-1", "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.0-1-cpu-py3"),
    ],
)
def test_known_images(region, version, uri):
    assert images.training_image(region, version) == uri


def test_the_table_cases_do_not_import_the_sdk(monkeypatch):
    monkeypatch.setitem(sys.modules, "sagemaker.core", None)  # importing it now fails
    assert images.training_image("eu-west-1", "1.5-1").endswith("/sagemaker-xgboost:1.5-1")
    with pytest.raises(ImportError):  # what the table leaves open goes to the SDK
        images.training_image("eu-west-1", "9.9")


@pytest.mark.parametrize(
    "region, version, message",
    [
        ("us-west-2", "9.9", "Unsupported xgboost version: 9.9"),
        ("xx-nowhere-1", "1.7-1", "Unsupported region: xx-nowhere-1"),
        ("us-west-2", "latest", "'latest' is deprecated"),
        ("us-west-2", "1", "'1' is deprecated"),
    ],
)
def test_what_the_table_does_not_answer_fails_with_the_sdk_message(region, version, message):
    with pytest.raises(ValueError, match=message):
        images.training_image(region, version)
