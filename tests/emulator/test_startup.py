"""What the rehearsal loads and sets up before it runs anything."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from components import PROJECT_DIR
from runner.container.openmp import apply_openmp_defaults
from runner.emulator import moto_batch_deferred


def test_the_rehearsal_loads_neither_moto_batch_nor_ec2_nor_the_sagemaker_sdk_and_parses_endpoints_once():
    script = (
        "import json, sys\n"
        "import botocore.loaders\n"
        "parsed = []\n"
        "load_file = botocore.loaders.JSONFileLoader.load_file\n"
        "def counting(self, path, *args, **kwargs):\n"
        "    data = load_file(self, path, *args, **kwargs)\n"
        "    parsed.extend([path] if data is not None and path.endswith('/endpoints') else [])\n"
        "    return data\n"
        "botocore.loaders.JSONFileLoader.load_file = counting\n"
        "import boto3\n"
        "import runner.emulator\n"
        "from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import "
        "state_task_service_factory\n"
        "from components.settings import load_stack_settings\n"
        "from runner.emulator.workarounds import service_models\n"
        "with service_models.installed():  # as run.py --local loads the stack settings\n"
        "    load_stack_settings('dev').training_image\n"
        "    boto3.session.Session().client('s3', region_name='us-west-2')\n"
        "print(json.dumps(sorted({name.split('.')[0] if name.startswith('sagemaker') else name\n"
        "                         for name in sys.modules if name.startswith(('sagemaker', 'moto.batch',\n"
        "                                                                     'moto.ec2'))})))\n"
        "print(len(parsed))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    loaded, endpoints_parsed = result.stdout.splitlines()
    assert json.loads(loaded) == []
    # The image's ECR host and every client read one parse of botocore's endpoint data (1.3 MB).
    assert endpoints_parsed == "1"


def test_a_batch_task_still_gets_motos_integration_built_when_first_needed(monkeypatch):
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_factory import (
        state_task_service_for,
    )

    class RealBatchService:
        def __init__(self, *args):
            self.args = args

    monkeypatch.setattr(moto_batch_deferred, "real_batch_service", lambda: RealBatchService)
    service = state_task_service_for("batch")
    assert isinstance(service, RealBatchService) and service.args == ()


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, {"OMP_WAIT_POLICY": "PASSIVE"}),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": "ACTIVE"}),
        ({"GOMP_SPINCOUNT": "10000"}, {"GOMP_SPINCOUNT": "10000"}),
    ],
)
def test_idle_openmp_threads_sleep_unless_the_user_chose(environ, expected):
    apply_openmp_defaults(environ)
    assert environ == expected


def test_only_run_py_freezes_the_collector():
    """gc.freeze() belongs to the process entry: in a test run it would keep every test's garbage."""
    import gc

    import runner.cli  # noqa: F401
    import runner.emulator  # noqa: F401

    assert gc.get_freeze_count() == 0
    script = (
        "import atexit, gc, runpy, sys\n"
        "atexit.register(lambda: print(gc.get_freeze_count(), file=sys.stderr))\n"
        "sys.argv = ['run.py', 'list', '--outputs-file', '/nonexistent/outputs.json']\n"
        "runpy.run_path('run.py', run_name='__main__')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr  # a usage error, returned normally by main()
    assert int(result.stderr.strip().splitlines()[-1]) > 0  # what was alive at exit is frozen


def test_the_emulator_runs_without_xgboost_in_its_process():
    """XGBoost runs in the image environments' container processes only: the emulator and the
    CLI load without it (the project's venv has none)."""
    code = (
        "import sys; sys.modules['xgboost'] = None; "
        "import runner.cli.parser; runner.cli.parser.build_parser(); "  # every command's module
        "import runner.emulator.stack, runner.emulator.sagemaker.jobs, runner.emulator.sagemaker.hosts, "
        "runner.emulator.sagemaker.serving, runner.emulator.sagemaker.container_pool; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
