"""What the rehearsal loads and sets up before it runs anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.local import moto_batch_deferred
from runner.openmp import apply_openmp_defaults

PROJECT_DIR = Path(__file__).resolve().parents[1]


def test_the_rehearsal_loads_neither_moto_batch_nor_ec2_nor_the_sagemaker_sdk():
    script = (
        "import json, sys\n"
        "import runner.local\n"
        "from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import "
        "state_task_service_factory as factory\n"
        "from components.settings import load_stack_settings\n"
        "load_stack_settings('dev').training_image\n"
        "loaded = lambda prefix: any(m == prefix or m.startswith(prefix + '.') for m in sys.modules)\n"
        "before = {p: loaded(p) for p in ('moto.batch', 'moto.ec2', 'sagemaker')}\n"
        "service = factory.state_task_service_for('batch')\n"
        "print(json.dumps({'before': before, 'after': loaded('moto.ec2'),\n"
        "                  'service': type(service).__module__ + '.' + type(service).__name__}))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True,
                            text=True, check=True)
    report = json.loads(result.stdout)
    assert report["before"] == {"moto.batch": False, "moto.ec2": False, "sagemaker": False}
    # A Batch task still gets moto's own integration, loaded when first needed.
    assert report["service"] == f"{moto_batch_deferred.BATCH_INTEGRATION}.StateTaskServiceBatch"
    assert report["after"] is True


@pytest.mark.parametrize("environ, expected", [
    ({}, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": "ACTIVE"}),
    ({"GOMP_SPINCOUNT": "10000"}, {"GOMP_SPINCOUNT": "10000"}),
])
def test_idle_openmp_threads_sleep_unless_the_user_chose(environ, expected):
    apply_openmp_defaults(environ)
    assert environ == expected
