"""`run.py --local --json` in a test: its exit code, its summary (None when it printed none), its stderr."""

import json

from runner import cli

SEED = 11


def run(capsys, tmp_path, *argv):
    code = cli.main(
        ["--local", "--json", "--no-progress", "--runs-dir", str(tmp_path / "runs"), "--seed", str(SEED), *argv]
    )
    captured = capsys.readouterr()
    summary = json.loads(captured.out) if captured.out.strip() else None
    return code, summary, captured.err
