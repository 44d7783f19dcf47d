"""The preparation rules (lambda_src/data_preparation.py): what a user's CSV becomes, what is refused."""

import io
import random

import pytest

from lambda_src import data_preparation as dp


class ListSink:
    def __init__(self, shards=1):
        self.shards = [[] for _ in range(shards)]
        self.validation_lines, self.test_lines, self.labels = [], [], []

    def train(self, shard, line):
        self.shards[shard].append(line)

    def validation(self, line):
        self.validation_lines.append(line)

    def test(self, features, label):
        self.test_lines.append(features)
        self.labels.append(label)


def prepare(text, sink=None, *, test_text=None, hyperparameters=None, **options):
    options.setdefault("seed", 1)
    return dp.prepare(
        [("data.csv", io.StringIO(text))],
        sink or dp.CountingSink(),
        test_sources=[("test.csv", io.StringIO(test_text))] if test_text is not None else [],
        hyperparameters=hyperparameters,
        **options,
    )


def refusal(text, **options):
    with pytest.raises(dp.InvalidData) as raised:
        prepare(text, **options)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_label_first_and_the_split_is_the_documented_seeded_draw():
    rows = [f"{i},{i * 0.5},{i % 2}" for i in range(1000)]
    sink = ListSink(shards=3)
    prepared = prepare("a,b,label\n" + "\n".join(rows) + "\n", sink, seed=42, shards=3, validation=0.1, test=0.2)
    # The rule docs/running.md states: one draw per row of random.Random(seed), in file order.
    rng = random.Random(42)
    expected = {"train": [], "validation": [], "test": []}
    for i in range(1000):
        draw = rng.random()
        split = "test" if draw < 0.2 else "validation" if draw < 0.3 else "train"
        expected[split].append(i)
    assert sink.labels == [str(i % 2) for i in expected["test"]]
    assert sink.test_lines == [f"{i},{i * 0.5}" for i in expected["test"]]
    assert sink.validation_lines == [f"{i % 2},{i},{i * 0.5}" for i in expected["validation"]]
    dealt = [f"{i % 2},{i},{i * 0.5}" for i in expected["train"]]
    assert sink.shards == [dealt[0::3], dealt[1::3], dealt[2::3]]  # round-robin
    assert prepared.rows == {key: len(value) for key, value in expected.items()}
    assert prepared.features == ["a", "b"] and prepared.classes is None and prepared.label == "label"


def test_text_labels_map_to_class_numbers_in_order_of_first_appearance():
    sink = ListSink()
    text = "label,x\n" + "".join(f"{name},{i}\n" for i, name in enumerate(["cat", "dog", "cat", "emu"] * 30))
    prepared = prepare(text, sink, hyperparameters={"objective": "multi:softprob", "num_class": "3"})
    assert prepared.classes == ["cat", "dog", "emu"]
    assert set(sink.labels) | {line[0] for line in sink.validation_lines} <= {"0", "1", "2"}


def test_empty_cells_and_nan_are_missing_values_and_quoted_headers_blank_lines_bom_are_read():
    sink = ListSink()
    prepare('\ufeff"x 1",label,"y"\n1.5,1,\n\n,0,nan\n' * 1 + "2,1,3\n" * 20, sink, validation=0.1, test=0.1)
    lines = sink.shards[0] + sink.validation_lines
    assert "1,1.5," in lines and "0,," in lines


def test_a_test_file_is_all_test_rows_with_the_same_class_mapping():
    sink = ListSink()
    text = "label,x\n" + "a,1\nb,2\n" * 20
    prepared = prepare(
        text,
        sink,
        test_text="label,x\nb,5\na,6\n",
        validation=0.2,
        test=0.0,
        hyperparameters={"objective": "binary:logistic"},
    )
    assert sink.test_lines == ["5", "6"] and sink.labels == ["1", "0"]
    assert prepared.rows["test"] == 2 and prepared.rows["train"] + prepared.rows["validation"] == 40


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "the file is empty: expected a header row"),
        ("a,label\n", "the header is there but no data rows follow it"),
        ("a,b\n1,2\n", "no label column 'label' in the header ('a', 'b'): pass --label COLUMN"),
        (
            "a,label\n" + "1,0\n" * 20 + "?,1\n",
            "column 'a' holds numbers but also text such as '?' in 1 of its "
            "first 21 filled cells: if that marks a missing value, leave those cells empty",
        ),
        ("a,label\n1,0\ninf,1\n", "line 3: column 'a' holds 'inf', which is not finite"),
        ("a,label\n1,0\n1e999,1\n", "which is not finite"),
        ("a,label\n1,0\n1,2,3\n", "line 3 has 3 fields, the header 2"),
        ("a,label\n1,0\n2,\n", "line 3: the label 'label' is empty"),
        ("a,label\n1,0\n2,yes\n", "line 3: the label 'yes' is text, while the first row's label is a number"),
        ("a,a,label\n1,2,0\n", "column 'a' appears twice"),
        ("label\n1\n", "the header has the label column only"),
        ("a,label\n1_000,0\n", "column 'a' is not numeric ('1_000')"),
        ('a,label\n"1,0\n', "not valid CSV"),
    ],
)
def test_bad_data_is_one_line_naming_the_problem(text, expected):
    assert expected in refusal(text)


@pytest.mark.parametrize(
    "labels, hyperparameters, expected",
    [
        (
            [0, 1, 2],
            {"objective": "binary:logistic"},
            "runs from 0 to 2, but objective binary:logistic needs labels from 0 to 1: use objective=multi:softprob "
            "with num_class=3",
        ),
        (
            ["a", "b", "c"],
            {"objective": "binary:logistic"},
            "has 3 classes ('a', 'b', 'c') but objective binary:logistic takes 2",
        ),
        (
            ["a", "b"],
            {"objective": "reg:squarederror"},
            "holds text ('a', 'b') but objective reg:squarederror needs numbers: use objective=binary:logistic",
        ),
        ([0.5, 1.5, 2], {"objective": "multi:softmax", "num_class": "3"}, "must hold class numbers 0, 1, 2"),
        (
            [0, 1, 2],
            {"objective": "multi:softmax", "num_class": "2"},
            "num_class=2 but label column 'label' goes up to 2: pass num_class=3",
        ),
        (["a", "b", "c"], {"objective": "multi:softmax", "num_class": "4"}, "pass num_class=3"),
        ([0, 1, 2], {"objective": "multi:softmax"}, "needs num_class: the data has 3 classes"),
        ([-1, 2], {"objective": "count:poisson"}, "objective count:poisson needs labels >= 0"),
        ([0, 1], {"objective": "binary:logistic", "csv_weights": "1"}, "drop csv_weights"),
        ([0, 1], {"objective": "rank:pairwise"}, "needs query groups"),
        ([0, 2], {}, None),  # the container's default objective, reg:squarederror, takes any number
    ],
)
def test_labels_must_fit_the_objective(labels, hyperparameters, expected):
    text = "label,x\n" + "".join(f"{labels[i % len(labels)]},{i}\n" for i in range(60))
    if expected is None:
        prepare(text, hyperparameters=hyperparameters)
    else:
        assert expected in refusal(text, hyperparameters=hyperparameters)


def test_too_few_rows_for_a_split_is_refused():
    assert "gave 0 validation rows" in refusal("a,label\n1,0\n2,1\n", validation=0.01, test=0.5)
    assert "one per training instance needed: 10" in refusal("a,label\n" + "1,0\n" * 10, shards=10)


def test_held_out_rows_beyond_the_evaluations_bound_are_refused_while_read(monkeypatch):
    """The row that passes evaluation.MAX_HELD_OUT_ROWS stops the preparation there (run.py --data
    before any upload, the seeding function before training), not the Evaluate state after it."""
    monkeypatch.setattr(dp, "MAX_HELD_OUT_ROWS", 5)
    read = []

    def lines(count):
        yield "x,label\n"
        for i in range(count):
            read.append(i)
            yield f"{i},{i % 2}\n"

    with pytest.raises(dp.InvalidData) as raised:
        dp.prepare([("data.csv", lines(50_000))], dp.CountingSink(), seed=1, test=0.5)
    message = str(raised.value)
    # stopped at the sixth held-out row (past the first rows the categorical check samples), not at the end
    assert "\n" not in message and len(read) < dp.CATEGORY_SAMPLE_ROWS + 100
    assert message.startswith("data.csv: line ") and "more than 5 held-out rows" in message
    assert message.endswith("lower the split's test fraction (now 0.5: run.py --split, or data.split.test)")
    assert refusal("x,label\n" + "1,0\n2,1\n" * 20, test_text="x,label\n" + "1,0\n" * 6, test=0.0).endswith(
        "more than 5 held-out rows, the most the pipeline's evaluation scores within "
        "Lambda's memory and time: use a smaller test file"
    )
    prepare("x,label\n" + "1,0\n2,1\n" * 20, test_text="x,label\n" + "1,0\n" * 5, test=0.0)  # 5 fit


def test_a_class_only_in_the_test_file_is_refused():
    assert "class 'c' does not occur in the training data" in refusal(
        "label,x\n" + "a,1\nb,2\n" * 10, test_text="label,x\nc,1\n", test=0.0
    )


def test_a_second_file_must_have_the_same_header():
    preparation = dp.Preparation(dp.CountingSink(), seed=1)
    preparation.add(io.StringIO("a,label\n1,0\n"), "one.csv")
    with pytest.raises(dp.InvalidData, match="two.csv: its header differs from the first file's"):
        preparation.add(io.StringIO("b,label\n1,0\n"), "two.csv")


def test_data_too_large_for_lambda_is_refused_with_the_estimate():
    dp.check_fits_lambda(1_000_000_000, "small.csv")
    with pytest.raises(dp.InvalidData) as raised:
        dp.check_fits_lambda(10 * 10**9, "big.csv")
    message = str(raised.value)
    assert message.startswith("big.csv: 10.0 GB would take about ") and "estimated" in message
    assert f"{dp.LAMBDA_BUDGET_SECONDS} s budget" in message


def test_memory_stays_bounded_the_rows_are_streamed():
    """A generator of lines goes through without being collected: the preparation never holds rows."""
    consumed = 0

    def lines():
        nonlocal consumed
        yield "a,b,label\n"
        for i in range(200_000):
            consumed += 1
            yield f"{i},{i},{i % 2}\n"

    class Probe(dp.CountingSink):
        first = None

        def train(self, shard, line):
            if self.first is None:
                self.first = consumed  # a row arrives as soon as it is read, not after the file

    probe = Probe()
    preparation = dp.Preparation(probe, seed=3)
    preparation.add(lines(), "stream.csv")
    # The first rows are held to decide which columns hold text (categorical), then rows stream.
    assert probe.first is not None and probe.first < dp.sample_rows(3) + 100
    assert preparation.finish().rows["train"] > 100_000


def test_a_row_that_fails_the_fast_path_late_is_checked_in_linear_time():
    """The plain-number pattern matches any text one way only: before, 12 cells of 1111 then a
    cell it does not take (1e-05, valid) took 12.7 s to fail, and a wide row hung the Lambda."""
    import time

    row = ",".join(["1111"] * 5000) + ",1e-05"
    started = time.process_time()
    assert dp._PLAIN_ROW.fullmatch(row) is None
    assert time.process_time() - started < 1.0  # linear: about a millisecond; exponential: forever
    header = ",".join(f"f{i}" for i in range(30)) + ",label"
    lines = [header] + [",".join(["111"] * 30) + ",1"] * 40 + [",".join(["111"] * 29) + ",1e-05,0"]
    assert prepare("\n".join(lines) + "\n").rows["train"] > 0


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("١٢", "column 'f' is not numeric"),  # Arabic-Indic digits: Python's float reads them, XGBoost does not
        ("１２", "column 'f' is not numeric"),  # full-width digits
        ("1" * 400, "which is not finite"),  # overflows a double: inf, which XGBoost's parser refuses
    ],
)
def test_numbers_xgboost_would_read_otherwise_are_refused(cell, expected):
    message = refusal("label,f\n" + f"1,{cell}\n0,2\n" * 20)
    assert message.startswith("data.csv: line 2: ") and expected in message, message


def test_names_too_large_for_the_executions_state_are_refused():
    """Column and class names travel in the execution's state (256 KiB at most in Step Functions,
    where States.DataLimitExceeded fails the run after the data is written)."""
    names = [f"feature_with_a_long_descriptive_name_{i:05d}" for i in range(2000)]
    header = ",".join(names) + ",label"
    row = ",".join(["1"] * len(names))
    message = refusal(header + "\n" + "".join(f"{row},{i % 2}\n" for i in range(20)))
    assert "over the 64 KiB a run's record may hold" in message, message
    assert (
        prepare(
            ",".join(names[:100]) + ",label\n" + "".join(f"{','.join(['1'] * 100)},{i % 2}\n" for i in range(20))
        ).features
        == names[:100]
    )
