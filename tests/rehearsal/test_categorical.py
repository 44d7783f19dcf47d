"""Text feature columns encoded during preparation (issue 27, item 7): end to end through
`run.py --local --data` and through data in S3, predictions equal to a plain script that encodes
the same way: one-hot (columns `name=category`, first-appearance order) for a column with at most
ONE_HOT_MAX categories in the first rows, ordinal codes (first-appearance order in the data)
beyond; a held-out category the mapping lacks is all-zero one-hot, missing ordinal."""

import json
import random

import boto3
import numpy as np
import pandas as pd
import pytest
from emulated_execution import deployed_with, start_and_wait
from local_container import in_image
from local_run import run

from lambda_src import data_preparation
from runner.emulator.image_environments import DEFAULT_IMAGE_VERSION as DEFAULT_IMAGE

SEED = 11
PARAMS = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 3}
ROUNDS = 6
COLOURS, CITIES = ["red", "green", "blue"], [f"city-{i}" for i in range(14)]


def frame(rows: int, seed: int, colours=COLOURS, cities=CITIES) -> pd.DataFrame:
    rng = random.Random(seed)
    records = []
    for _ in range(rows):
        colour, city, x = rng.choice(colours), rng.choice(cities), rng.random()
        score = x + (0.8 if colour == "red" else 0) + (0.5 if city in cities[:5] else 0)
        records.append(
            {"x": round(x, 4), "colour": colour, "city": city, "label": int(score + rng.random() * 0.5 > 1.1)}
        )
    return pd.DataFrame(records)


def encoded(data: pd.DataFrame, mapping_from: pd.DataFrame) -> pd.DataFrame:
    """The plain script's encoding, from the documented rule (not from the project's code)."""
    colours = list(dict.fromkeys(mapping_from.colour))  # 3 <= ONE_HOT_MAX: one-hot
    cities = list(dict.fromkeys(mapping_from.city))  # 14 > ONE_HOT_MAX: ordinal
    assert len(colours) <= data_preparation.ONE_HOT_MAX < len(cities)
    out = pd.DataFrame({"x": data.x})
    for colour in colours:
        out[f"colour={colour}"] = (data.colour == colour).astype(float)
    out["city"] = data.city.map({city: code for code, city in enumerate(cities)}).astype(float)  # unseen: NaN
    out["label"] = data.label
    return out


def split(data: pd.DataFrame, validation: float, test: float):
    rng = random.Random(SEED)
    draws = np.array([rng.random() for _ in range(len(data))])
    return (data[draws >= test + validation], data[(draws >= test) & (draws < test + validation)], data[draws < test])


def plain_predictions(train, validation, test):
    """A plain script on the default image's library (its environment), the same encoded rows."""
    frames = {
        name: data.to_csv(index=False) for name, data in (("train", train), ("validation", validation), ("test", test))
    }
    script = f"""
import io, json, sys
import numpy as np, pandas as pd, xgboost as xgb
frames = json.load(sys.stdin)
def matrix(name):
    data = pd.read_csv(io.StringIO(frames[name]))
    return xgb.DMatrix(data.drop(columns=["label"]).to_numpy(np.float32), label=data.label.to_numpy())
booster = xgb.train({dict(PARAMS)!r}, matrix("train"), {ROUNDS},
                    evals=[(matrix("train"), "train"), (matrix("validation"), "validation")], verbose_eval=False)
print(json.dumps(booster.predict(matrix("test")).tolist()))
"""
    return np.array(json.loads(in_image(DEFAULT_IMAGE, script, stdin=json.dumps(frames).encode())))


def test_run_py_encodes_text_columns_and_applies_the_mapping_to_a_test_file(capsys, tmp_path, shared_stack):
    data = frame(400, seed=1)
    held_out = frame(60, seed=2, colours=COLOURS + ["purple"], cities=CITIES + ["elsewhere"])  # unseen ones
    data.to_csv(tmp_path / "data.csv", index=False)
    held_out.to_csv(tmp_path / "test.csv", index=False)
    code, summary, err = run(
        capsys,
        tmp_path,
        "--data",
        str(tmp_path / "data.csv"),
        "--test",
        str(tmp_path / "test.csv"),
        "--split",
        "0.15,0",
        *[f"--hp={k}={v}" for k, v in PARAMS.items()],
        "--hp",
        f"num_round={ROUNDS}",
    )
    assert code == 0, err
    train, validation, _ = split(encoded(data, data), 0.15, 0.0)
    expected = plain_predictions(train, validation, encoded(held_out, data))
    np.testing.assert_allclose(np.loadtxt(summary["predictions"]), expected, rtol=1e-6, atol=1e-7)
    assert summary["data"]["categorical"] == {
        "colour": {"encoding": "one-hot", "categories": list(dict.fromkeys(data.colour)), "unseen": "every column 0"},
        "city": {"encoding": "ordinal", "categories": list(dict.fromkeys(data.city)), "unseen": "missing"},
    }
    assert summary["data"]["features"] == ["x", *[f"colour={c}" for c in dict.fromkeys(data.colour)], "city"]


def test_categorical_off_refuses_text_as_before(capsys, tmp_path, no_deployment):
    frame(50, seed=1).to_csv(tmp_path / "data.csv", index=False)
    code, _, err = run(
        capsys,
        tmp_path,
        "--data",
        str(tmp_path / "data.csv"),
        "--categorical",
        "off",
        "--hp",
        "objective=binary:logistic",
    )
    assert code == 2 and "column 'colour' is not numeric ('" in err
    assert "categorical encoding is off (--categorical off): encode it yourself or drop the column" in err


DATA_BUCKET = "categorical-sources"


@pytest.fixture(scope="module")
def sourced_stack():
    with deployed_with(dataSources=[f"s3://{DATA_BUCKET}/tables/"]) as outputs:
        s3 = boto3.client("s3", region_name=outputs["region"])
        s3.create_bucket(Bucket=DATA_BUCKET, CreateBucketConfiguration={"LocationConstraint": outputs["region"]})
        s3.put_object(Bucket=DATA_BUCKET, Key="tables/shop.csv", Body=frame(400, seed=3).to_csv(index=False).encode())
        yield outputs


def test_s3_data_is_encoded_in_the_seeding_function_the_same_way(sourced_stack):
    stack = sourced_stack
    name = f"{stack['jobNamePrefix']}--categorical-s3"
    described = start_and_wait(
        stack,
        name,
        {
            "seed": SEED,
            "hyperparameters": {**{k: str(v) for k, v in PARAMS.items()}, "num_round": str(ROUNDS)},
            "data": {"uri": f"s3://{DATA_BUCKET}/tables/shop.csv", "split": {"validation": 0.1, "test": 0.2}},
        },
    )
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    data = frame(400, seed=3)
    assert output["dataset"]["source"]["categorical"]["colour"]["encoding"] == "one-hot"
    s3 = boto3.client("s3", region_name=stack["region"])
    bucket, _, prefix = output["transform"]["outputPath"].removeprefix("s3://").partition("/")
    (key,) = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
        if item["Key"].endswith(".out")
    ]
    predictions = np.loadtxt(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines())
    np.testing.assert_allclose(
        predictions, plain_predictions(*split(encoded(data, data), 0.1, 0.2)), rtol=1e-6, atol=1e-7
    )


class _Lines(data_preparation.CountingSink):
    def __init__(self):
        self.rows = []

    def train(self, shard, line):
        self.rows.append(line)

    def validation(self, line):
        self.rows.append(line)

    def test(self, features, label):
        self.rows.append(f"{label},{features}")


def test_a_quoted_category_with_a_comma_is_one_code_and_a_quoted_number_with_one_is_refused():
    import io

    text = "x,city,label\n" + "".join(f'{i % 7},"{["Paris, TX", "Paris, FR"][i % 2]}",{i % 2}\n' for i in range(30))
    sink = _Lines()
    prepared = data_preparation.prepare([("d.csv", io.StringIO(text))], sink, seed=1)
    assert prepared.features == ["x", "city=Paris, TX", "city=Paris, FR"]
    assert all(row.count(",") == 3 for row in sink.rows)  # label + 3 features, no cell split in two
    late = text + "".join(f'{i % 7},"Paris, TX",0\n' for i in range(10_000)) + '"1,5","Paris, FR",1\n'
    with pytest.raises(data_preparation.InvalidData, match=r"column 'x' holds '1,5', one quoted cell with a comma"):
        data_preparation.prepare([("d.csv", io.StringIO(late))], data_preparation.CountingSink(), seed=1)
