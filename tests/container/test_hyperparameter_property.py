"""The property that closes issue 18's hyperparameter findings: every execution input the first
state accepts for a stack of image 3.2-0, 3.0-5 or 1.7-1 trains on that image's own XGBoost (3.2.0,
3.0.5, 1.7.4) and its model transforms the held-out set.

Hypothesis draws execution inputs: `rows` (1, 2 or 200), an objective from every objective the
container knows, `num_class` with them or without, and any of the hyperparameter names the
container accepts (aliases included), each with a value drawn from its rule in
lambda_src/xgboost_hyperparameters.RULES: its range's edges and just past them, 0, -1, huge,
float32 limits, nan/inf, strings of floats for integers, odd spellings, lists and constraint
tuples, as JSON numbers, booleans or strings. Each input goes through the first state's
validation (`validate_execution`, with the dev stack's defaults and training limits, its image
replaced by the one under test); an input it refuses is discarded, and an accepted one is trained
by the local container's code in the image's environment (runner/emulator/image_environments.py), on
a host laid out as the emulator lays it out, with data made by the seeding function's own generator
(label-first `label,x,y`, x and y in 0..100, labels 0 and 1); then its model answers batch transform
of held-out `x,y` rows as the image's serving container does. Any failure there is a bug in that
image's rules. The jobs of one image run one after the other in one process of its environment
(local_container.ImageWorker), not a process each as the emulator starts them: a process start and
a library import per example would cost seconds each.

Bounds of this test, for time: at most TREE_BUDGET trees an example (num_round x
num_parallel_tree x num_class; what the rules accept beyond that is bounded by time, not by
failure, and tested in test_hyperparameter_rules.py), and one training instance (the stack's).

`make test` runs EXAMPLES examples for each image, derandomized (the same ones every run). To look
harder, set HYPOTHESIS_EXAMPLES, which also draws new examples every run:

    HYPOTHESIS_EXAMPLES=2000 venv/bin/python -m pytest -q tests/container/test_hyperparameter_property.py
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, example, given, note, settings
from hypothesis import strategies as st
from local_container import ImageWorker

from components.settings import load_stack_settings
from lambda_src import seed_dataset  # the seeding function's generator, as the Lambda runs it
from lambda_src import xgboost_hyperparameters as rules
from lambda_src.execution_input import InvalidExecutionInput, validate_execution
from runner.emulator.sagemaker.hosts import Channel

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "100"))
TREE_BUDGET = 400
ROWS = (1, 2, 200)
TEST_ROWS = 20
# The dev stack's settings with each image in turn (the rules in run_defaults follow the version).
STACKS = {version: dataclasses.replace(load_stack_settings("dev"), xgboost_version=version) for version in rules.IMAGES}

_INT32 = 2**31


def _numbers(rule: rules._Rule) -> list[float]:
    """Edge values of a numeric rule's interval: its ends, just inside and outside, and beyond."""
    interval = rule.range
    edges = [
        0,
        1,
        -1,
        2,
        0.5,
        3,
        1e-300,
        1e300,
        3.4e38,
        3.5e38,
        1.1754943508222875e-38,
        1e-40,
        _INT32 - 1,
        _INT32,
        2**63,
    ]
    for end in (rules.FLOAT32_MIN, rules.FLOAT32_MAX):  # the rules' own float limits and beside them
        edges += [end, math.nextafter(end, 0), math.nextafter(end, math.inf)]
    for end in (interval.min_open, interval.min_closed, interval.max_open, interval.max_closed):
        if end is not None:
            edges += [end, end + 1, end - 1, end + 1e-6, end - 1e-6]
            # at float32's resolution: its neighbours of the end, doubles that round onto it as a
            # float32, and ones that print as it at 6 significant digits (C++'s default)
            edges += [*_float32_neighbours(end), end - 1e-8, end + 1e-8, end - 1e-7, end + 1e-7, end - 5e-7, end + 5e-7]
    return edges


def _float32_neighbours(end: float) -> list[float]:
    """The float32 values just below and above `end` (a positive float32)."""
    if end <= 0:
        return []
    bits = struct.unpack("<I", struct.pack("<f", end))[0]
    return [struct.unpack("<f", struct.pack("<I", neighbour))[0] for neighbour in (bits - 1, bits + 1)]


def _value(name: str) -> st.SearchStrategy:
    """A value for hyperparameter `name` as an execution input might carry it."""
    rule = rules.RULES[rules.canonical_name(name)]
    odd_text = st.sampled_from(
        ["", " ", "nan", "inf", "-inf", "1e300", "4.0", " 3", "+3", "1_0", "0x10", "true", "١٢", "9" * 400]
    )
    if rule.kind in ("int", "float"):
        edges = _numbers(rule)
        if rule.kind == "int":
            plain = st.one_of(st.sampled_from([int(e) for e in edges if abs(e) < 1e30]), st.integers(-3, 12))
            return st.one_of(plain, plain.map(str), st.sampled_from(edges).map(str), odd_text)
        plain = st.one_of(st.sampled_from(edges), st.floats(0, 1), st.floats(allow_nan=True, allow_infinity=True))
        return st.one_of(plain, plain.map(repr), st.integers(0, 3), odd_text)
    if rule.kind == "str":
        return st.one_of(st.sampled_from(list(rule.range)), st.sampled_from(["bogus", "", "TRUE"]), st.booleans())
    if rule.kind == "list":
        items = (
            st.sampled_from(list(rules.METRICS) + ["error@0.7", "ndcg@3", "map@2-", "error@x"])
            if name == "eval_metric"
            else st.sampled_from(sorted(set(rule.range)) + ["grow_quantile_histmaker"])
        )
        return st.one_of(
            st.lists(items, min_size=1, max_size=3).map(",".join),
            st.lists(items, min_size=9, max_size=12).map(",".join),
        )
    if rule.kind == "tuple":  # monotone_constraints
        elements = st.lists(st.sampled_from([-1, 0, 1, True, 2]), max_size=3)
        return st.one_of(
            elements.map(tuple).map(str),
            elements.map(str),
            elements.map(lambda items: str(tuple(items)).replace(" ", "")),
            st.sampled_from(["{1: 0}", "set()", "", "(1)", "((1,),)"]),
        )
    assert rule.kind == "nested", name  # interaction_constraints
    return st.one_of(
        st.lists(st.lists(st.integers(0, 3), max_size=3), max_size=2).map(str),
        st.sampled_from(["[]", "[[]]", "[1]", "(1,2)"]),
    )


NAMES = sorted(set(rules.RULES) | set(rules.ALIASES))
# num_round is drawn small (the time it takes is bounded, not its failures), with refused edges.
NUM_ROUND = st.one_of(
    st.integers(1, 10),
    st.integers(1, 10).map(str),
    st.sampled_from([0, -1, "1.5", 1e300, "1" + "0" * 300, 36_000_001, "", " 2"]),
)


@st.composite
def execution_inputs(draw) -> dict:
    hyperparameters: dict[str, object] = {}
    if draw(st.integers(0, 4)):  # mostly: otherwise the stack's (reg:logistic, eval_metric rmse)
        objective = draw(st.sampled_from(rules.OBJECTIVES))
        hyperparameters["objective"] = objective
        # one_of flattens nested one_of: the odds are set by drawing which strategy to use
        if objective.startswith("multi:") or draw(st.integers(0, 9)) == 0:
            hyperparameters["num_class"] = draw(st.integers(2, 5) if draw(st.integers(0, 3)) else _value("num_class"))
        if draw(st.integers(0, 3)):  # the stack's rmse suits regression only
            metrics = (
                rules.MULTICLASS_METRICS if objective.startswith("multi:") and draw(st.booleans()) else rules.METRICS
            )
            hyperparameters["eval_metric"] = draw(
                st.lists(st.sampled_from(metrics), min_size=1, max_size=3).map(",".join)
            )
        if objective == "reg:tweedie" and draw(st.booleans()):  # its power is read by its objective only
            rule = rules.RULES["tweedie_variance_power"]
            hyperparameters["tweedie_variance_power"] = draw(
                st.sampled_from(_numbers(rule)).map(repr) if draw(st.booleans()) else _value("tweedie_variance_power")
            )
    if draw(st.booleans()):
        hyperparameters["num_round"] = draw(NUM_ROUND)
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=5, unique=True)):
        if name not in ("num_round", "objective"):
            hyperparameters[name] = draw(_value(name))
    return {"rows": draw(st.sampled_from(ROWS)), "seed": 7, "hyperparameters": hyperparameters}


@pytest.fixture(scope="module")
def channels(tmp_path_factory) -> dict[int, Path]:
    """A train channel per row count, written by the seeding function's generator."""
    rng, root = random.Random(18), tmp_path_factory.mktemp("channels")
    paths = {}
    for rows in ROWS:
        path = root / f"train-{rows}"
        path.mkdir()
        (path / "part-00000.csv").write_bytes(b"".join(seed_dataset._train(seed_dataset._coordinates(rng, rows))))
        paths[rows] = path
    return paths


HELD_OUT = b"".join(seed_dataset._test(seed_dataset._coordinates(random.Random(19), TEST_ROWS))[:1])


@pytest.fixture(scope="module")
def workers():
    """One ImageWorker (tests/local_container.py) per image, made on its first example."""
    started: dict[str, ImageWorker] = {}

    def of(version: str) -> ImageWorker:
        if version not in started:
            started[version] = ImageWorker(version)
        return started[version]

    yield of
    for worker in started.values():
        worker.close()


def _trees(hyperparameters: dict[str, str]) -> int:
    config = rules.validate_as_container(hyperparameters)
    classes = config.get("num_class", 1) if str(config.get("objective", "")).startswith("multi:") else 1
    return config["num_round"] * config.get("num_parallel_tree", 1) * classes


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="HYPOTHESIS_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(execution_input=execution_inputs())
# float32's resolution at an open bound, every time (the draws above reach them rarely): each of
# these passed the container's double-precision check and failed on 1.7.4 before the rules knew
@example(
    execution_input={
        "rows": 200,
        "seed": 7,
        "hyperparameters": {"objective": "reg:tweedie", "tweedie_variance_power": "1.999999", "num_round": 2},
    }
)
@example(
    execution_input={
        "rows": 200,
        "seed": 7,
        "hyperparameters": {
            "objective": "reg:tweedie",
            "tweedie_variance_power": repr(_float32_neighbours(2.0)[0]),
            "num_round": 2,
        },
    }
)
# where the images' libraries differ (tests/lambda_functions/test_image_rules.py): each image accepts some of these
@example(execution_input={"rows": 200, "seed": 7, "hyperparameters": {"max_depth": 0, "num_round": 2}})
@example(
    execution_input={
        "rows": 200,
        "seed": 7,
        "hyperparameters": {"sampling_method": "gradient_based", "subsample": 0.5, "num_round": 2},
    }
)
@example(execution_input={"rows": 200, "seed": 7, "hyperparameters": {"base_score": 1, "num_round": 2}})
@example(execution_input={"rows": 1, "seed": 7, "hyperparameters": {"base_score": 2, "num_round": 2}})
@example(execution_input={"rows": 200, "seed": 7, "hyperparameters": {"predictor": "gpu_predictor", "num_round": 2}})
@pytest.mark.parametrize("version", list(rules.IMAGES))
def test_every_accepted_input_trains_on_the_images_xgboost(
    channels, workers, tmp_path_factory, version, execution_input
):
    try:
        request = validate_execution(
            execution_input,
            execution_name="xgb-dev--property",
            job_name_prefix="xgb-dev",
            defaults=STACKS[version].run_defaults,
        )
    except InvalidExecutionInput:
        assume(False)  # refused before anything is written: nothing to check
    hyperparameters = request["hyperparameters"]
    assume(_trees(hyperparameters) <= TREE_BUDGET)
    note(f"accepted for image {version}: rows {request['rows']}, hyperparameters {hyperparameters}")
    event(f"objective {hyperparameters.get('objective')}")  # --hypothesis-show-statistics lists them
    channel = Channel("train", "text/csv", channels[request["rows"]])
    result = workers(version).train_and_transform(tmp_path_factory.mktemp("host"), [channel], hyperparameters, HELD_OUT)
    if "failure" in result:
        pytest.fail(f"accepted by the first state for image {version}, failed in its container: {result['failure']}")
    assert result["rows"] == {"train": request["rows"]}
    assert result["answer"].count("\n") == TEST_ROWS
