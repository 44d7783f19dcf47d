"""The execution input's `data` object: only the stack's dataSources and the run's own upload location."""

import pytest

from lambda_src.execution_input import InvalidExecutionInput, check_data_source, validate_execution

NAME = "xgb-dev--data-1"
BUCKET = "pipeline-bucket"
SOURCES = ["s3://team-data/datasets/", "s3://whole-bucket/"]
DEFAULTS = {
    "rows": 100,
    "hyperparameters": {"num_round": "5"},
    "shards": 1,
    "dataSources": SOURCES,
    "training": {"image_version": "3.2-0"},
}


def check(data, **extra):
    return validate_execution(
        {"seed": 1, "data": data, **extra},
        execution_name=NAME,
        job_name_prefix="xgb-dev",
        defaults=DEFAULTS,
        bucket=BUCKET,
    )


def refused(data, **extra) -> str:
    with pytest.raises(InvalidExecutionInput) as raised:
        check(data, **extra)
    return str(raised.value)


@pytest.mark.parametrize(
    "uri, kind",
    [
        ("s3://team-data/datasets/iris.csv", "s3"),
        ("s3://team-data/datasets/", "s3"),
        ("s3://team-data/datasets/2026/part/", "s3"),
        ("s3://whole-bucket/anything/at/all.csv", "s3"),
        (f"s3://{BUCKET}/runs/{NAME}/upload/data.csv", "file"),
    ],
)
def test_uris_inside_a_data_source_or_the_runs_upload_location_are_accepted(uri, kind):
    result = check({"uri": uri})
    assert result["data"] == {
        "kind": kind,
        "uri": uri,
        "label": "label",
        "test": None,
        "split": {"validation": 0.1, "test": 0.2},
        "categorical": "auto",
    }


@pytest.mark.parametrize(
    "uri",
    [
        "s3://team-data/datasets",  # the prefix itself without its slash is not inside
        "s3://team-data/datasets-private/x.csv",  # a longer name is not inside the prefix
        "s3://team-data/other/x.csv",
        "s3://team-data-2/datasets/x.csv",  # the bucket is compared exactly
        "s3://whole-bucket2/x.csv",
        f"s3://{BUCKET}/runs/xgb-dev--other-run/upload/data.csv",  # another run's upload
        f"s3://{BUCKET}/runs/{NAME}/csv/train/part-00000.csv",  # the run's own output, not an upload
        f"s3://{BUCKET}/runs/{NAME}/upload",
    ],
)
def test_uris_outside_are_refused_naming_the_allowed_locations(uri):
    message = refused({"uri": uri})
    assert message.startswith(
        f"data.uri: {uri} is outside the stack's data sources "
        "(s3://team-data/datasets/, s3://whole-bucket/) and this run's upload location"
    )


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("s3://team-data/datasets/../secret/x.csv", "'..' segments"),
        ("s3://team-data/datasets/./x.csv", "'.'"),
        ("s3://team-data/datasets//x.csv", "empty"),
        ("s3://team-data/datasets/a\\..\\b", "backslashes"),
        ("s3://team-data/datasets/a\nb", "control characters"),
        ("https://team-data.s3.amazonaws.com/datasets/x.csv", "is not an S3 URI"),
        ("S3://team-data/datasets/x.csv", "is not an S3 URI"),
        ("s3a://team-data/datasets/x.csv", "is not an S3 URI"),
        ("s3://Team-Data/datasets/x.csv", "does not name a valid S3 bucket"),
        ("s3://team..data/datasets/x.csv", "does not name a valid S3 bucket"),
        (17, "is not an S3 URI"),
    ],
)
def test_tricks_and_other_schemes_are_refused(uri, expected):
    assert expected in refused({"uri": uri})


def test_an_upload_is_named_as_an_object_not_listed():
    assert "is a prefix: name the uploaded object" in refused({"uri": f"s3://{BUCKET}/runs/{NAME}/upload/"})


def test_the_test_file_is_checked_the_same_way():
    assert refused({"uri": "s3://team-data/datasets/a.csv", "test": "s3://elsewhere/t.csv"}).startswith(
        "data.test: s3://elsewhere/t.csv is outside"
    )
    result = check({"uri": "s3://team-data/datasets/a.csv", "test": "s3://team-data/datasets/t.csv"})
    assert result["data"]["split"] == {"validation": 0.1, "test": 0.0}


@pytest.mark.parametrize(
    "uri, test, message",
    [
        (
            "s3://team-data/datasets/a.csv",
            f"s3://{BUCKET}/runs/{NAME}/upload/test.csv",
            f"data.test: s3://{BUCKET}/runs/{NAME}/upload/test.csv is an upload of this run but data.uri is in the "
            "stack's dataSources: both must be uploads of this run (run.py --data FILE --test FILE) or both in dataSources",
        ),
        (
            f"s3://{BUCKET}/runs/{NAME}/upload/data.csv",
            "s3://team-data/datasets/t.csv",
            "data.test: s3://team-data/datasets/t.csv is in the stack's dataSources but data.uri is an upload of this run",
        ),
    ],
)
def test_data_and_test_of_different_kinds_are_refused(uri, test, message):
    """The kind says whether the run's uploads are deleted after it read them: one for both URIs,
    as run.py requires of --data and --test."""
    assert refused({"uri": uri, "test": test}).startswith(message)


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"uri": "s3://team-data/datasets/a.csv", "format": "csv"}, "data: unknown field 'format'"),
        ({"uri": "s3://team-data/datasets/a.csv", "label": ""}, "data.label"),
        (
            {"uri": "s3://team-data/datasets/a.csv", "split": {"validation": 0}},
            "data.split.validation: must be above 0",
        ),
        ({"uri": "s3://team-data/datasets/a.csv", "split": {"test": 1}}, "data.split.test: 1 is not a fraction"),
        ({"uri": "s3://team-data/datasets/a.csv", "split": {"validation": 0.5, "test": 0.5}}, "leave under 5 %"),
        ({"uri": "s3://team-data/datasets/a.csv", "split": {"train": 0.5}}, "data.split: expected"),
        ({"uri": "s3://team-data/datasets/a.csv", "split": {"test": 0}}, "must be above 0 without a test file"),
        (
            {"uri": "s3://team-data/datasets/a.csv", "test": "s3://team-data/datasets/t.csv", "split": {"test": 0.2}},
            "a test file is given",
        ),
        ("s3://team-data/datasets/a.csv", "data: expected an object"),
    ],
)
def test_bad_data_objects_are_refused(data, expected):
    assert expected in refused(data)


def test_rows_with_data_is_refused():
    assert refused({"uri": "s3://team-data/datasets/a.csv"}, rows=10).startswith("rows: applies to the generated")


def test_without_data_sources_only_the_upload_location_is_allowed():
    with pytest.raises(InvalidExecutionInput, match=r"none \(the stack's dataSources setting is empty\)"):
        validate_execution(
            {"data": {"uri": "s3://team-data/datasets/a.csv"}},
            execution_name=NAME,
            job_name_prefix="xgb-dev",
            defaults={**DEFAULTS, "dataSources": []},
            bucket=BUCKET,
        )


@pytest.mark.parametrize(
    "location, expected",
    [
        ("s3://team-data/datasets/", "s3://team-data/datasets/"),
        ("s3://team-data", "s3://team-data/"),
    ],
)
def test_a_data_source_is_a_bucket_or_a_prefix_ending_with_a_slash(location, expected):
    assert check_data_source(location) == expected
    with pytest.raises(InvalidExecutionInput, match="must end with '/'"):
        check_data_source("s3://team-data/datasets")


def test_objectives_the_generated_labels_cannot_train_are_left_to_the_preparation():
    """reg:gamma needs labels > 0: refused for the generator's 0/1 labels, accepted for a user's
    data, whose labels the preparation checks against the objective (data_preparation.check_labels)."""
    gamma = {"objective": "reg:gamma", "eval_metric": "gamma-nloglik"}
    with pytest.raises(InvalidExecutionInput, match="generated dataset's labels are 0 and 1"):
        validate_execution(
            {"seed": 1, "hyperparameters": gamma},
            execution_name=NAME,
            job_name_prefix="xgb-dev",
            defaults=DEFAULTS,
            bucket=BUCKET,
        )
    accepted = check({"uri": "s3://team-data/datasets/prices.csv"}, hyperparameters=gamma)
    assert accepted["hyperparameters"]["objective"] == "reg:gamma"
    assert accepted["data"]["kind"] == "s3"


@pytest.mark.parametrize(
    "location", ["s3://team-data/pub*/", "s3://team-data/d?ta/", "s3://team-data/${aws:username}/"]
)
def test_a_data_source_names_its_prefix_literally(location):
    """IAM reads * and ? as wildcards and ${...} as variables: s3://b/pub*/ would let the role read
    s3://b/pub-private/ although the first state compares literally."""
    with pytest.raises(InvalidExecutionInput, match="wildcards or variables in IAM policies"):
        check_data_source(location)


def test_a_lone_surrogate_is_refused_not_a_crash():
    assert "not valid UTF-8" in refused({"uri": "s3://team-data/datasets/\ud800"})
    assert "is not a column name" in refused({"uri": "s3://team-data/datasets/a.csv", "label": "\udcff"})


@pytest.mark.parametrize("location", ["s3://team-data\n/datasets/", "s3://team-data\n"])
def test_a_bucket_name_followed_by_a_newline_is_refused(location):
    """Bucket names are matched whole (`fullmatch`): `$` also matches before a trailing newline."""
    with pytest.raises(InvalidExecutionInput, match="does not name a valid S3 bucket"):
        check_data_source(location)
