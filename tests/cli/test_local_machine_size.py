"""A local run too big for this machine's free memory or disk is refused before it starts (issue 20)."""

import collections

from runner import cli
from runner.cli import machine

GB = 10**9


def _machine(monkeypatch, memory: int, disk: int) -> None:
    monkeypatch.setattr(machine, "free_memory", lambda: memory)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda path: usage(disk, 0, disk))


def test_a_run_bigger_than_the_free_memory_is_refused_with_the_estimate(monkeypatch, capsys, tmp_path, no_deployment):
    _machine(monkeypatch, memory=1 * GB, disk=100 * GB)
    code = cli.main(["--local", "--rows", "10000000", "--runs-dir", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "run.py: error: --local with 10,000,000 rows needs about 1.5 GB of memory (163.8 MB of generated CSV + "
        "130 bytes a training row for xgboost) but 1.0 GB is free: use fewer --rows, or run it on AWS"
    ]
    assert not no_deployment and not list(tmp_path.iterdir())  # nothing started, nothing written


def test_a_run_bigger_than_the_free_temporary_disk_is_refused_with_the_estimate(
    monkeypatch, capsys, tmp_path, no_deployment
):
    _machine(monkeypatch, memory=100 * GB, disk=50 * 10**6)
    code = cli.main(["--local", "--input", '{"rows": 10000000}', "--runs-dir", str(tmp_path)])
    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("run.py: error: --local with 10,000,000 rows writes about 163.8 MB of generated CSV to ")
    assert line.endswith(
        "but 50.0 MB is free there: use fewer --rows, free some space (or set TMPDIR to a "
        "larger disk), or run it on AWS"
    )
    assert not no_deployment and not list(tmp_path.iterdir())


def test_without_rows_the_stacks_own_count_is_checked(monkeypatch, capsys, tmp_path, no_deployment):
    _machine(monkeypatch, memory=1000, disk=100 * GB)
    assert cli.main(["--local", "--runs-dir", str(tmp_path)]) == 2
    assert "of memory" in capsys.readouterr().err
    assert not no_deployment


def test_a_run_that_fits_goes_on_to_the_deployment(monkeypatch, capsys, tmp_path, no_deployment):
    _machine(monkeypatch, memory=100 * GB, disk=100 * GB)
    assert cli.main(["--local", "--rows", "5000", "--runs-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [  # checked in full, then deployed
        "run.py: deploying stack dev into the local emulator ...",
        "run.py: error: the program could not be deployed to the local emulator: stopped by the test",
    ]
    assert len(no_deployment) == 1


def test_a_run_on_given_data_is_not_sized_by_rows(monkeypatch, capsys, tmp_path, no_deployment):
    _machine(monkeypatch, memory=1000, disk=1000)
    data = tmp_path / "data.csv"
    data.write_text("label,x\n" + "".join(f"{i % 2},{i}\n" for i in range(100)))
    assert cli.main(["--local", "--data", str(data), "--runs-dir", str(tmp_path / "runs")]) == 1
    assert len(no_deployment) == 1
