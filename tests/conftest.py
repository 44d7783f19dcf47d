"""Shared test set-up."""

import contextlib
import gc
import os
import types
from pathlib import Path

import pytest

# Loaded first: runner.emulator keeps moto's Batch and EC2 models out before any test loads moto's
# Step Functions interpreter. (XGBoost runs in the image environments' processes, never here.)
from runner.emulator.workarounds import service_models

# The test process keeps about 650,000 objects alive (moto, botocore's data, Pulumi, the
# SageMaker SDK), and every full collection walks them all: with CPython's default thresholds
# (700, 10, 10) the suite ran 20 of them, 7 s of a 33 s run. Collecting the young generation
# every 10,000 allocations instead made it 4 (2 s), with the same peak memory (524 vs 529 MB).
# Thresholds only: no gc.freeze() here, which would keep every test's garbage.
gc.set_threshold(10_000, 10, 10)

# A developer's `run.py serve` must not stand in for the emulators the tests' --local runs deploy
# (tests/emulator/test_server.py starts its own endpoint and clears this for it).
os.environ["RUN_PY_NO_ENDPOINT"] = "1"


# The test groups whose every test is part of the offline rehearsal (marker `rehearsal`): they deploy
# the stack on the emulator, test the emulator itself, or train with XGBoost in the local container.
REHEARSAL_GROUPS = ("rehearsal", "emulator", "container")
# Elsewhere, a test that takes a deployed stack is part of it too.
DEPLOYED_STACK_FIXTURES = {"stack", "shared_stack"}


def pytest_collection_modifyitems(config, items):
    """Mark the rehearsal's tests, so `pytest -m "not rehearsal"` runs the fast unit tests."""
    tests = Path(__file__).parent
    for item in items:
        group = item.path.relative_to(tests).parts[0]
        if group in REHEARSAL_GROUPS or DEPLOYED_STACK_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.rehearsal)


@pytest.fixture(scope="session", autouse=True)
def service_models_parsed_once():
    """The rehearsal's own sharing of AWS service models (`runner.emulator.service_models`), for
    the whole run: moto gives every mock a fresh boto3 default session, whose loader would
    parse botocore's endpoint data and each service model again, about 0.4 s per test that
    starts a mock. Loaded data is only read, so sharing it changes nothing else."""
    with service_models.installed():
        yield


@pytest.fixture(autouse=True)
def retry_waits(monkeypatch):
    """The Step Functions interpreter's Retry waits are recorded, not slept: a step that fails
    with SageMaker.AmazonSageMakerException waits up to 1 s and then 2 s (full jitter) before
    failing for good. The list of waits is the fixture's value."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    waits: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=waits.append))
    return waits


class SharedStack:
    """The dev stack deployed in this process once, and kept while consecutive tests use it.

    moto's backends and the rehearsal's patches are process-wide: while this stack is up, no
    other emulator may start. So it is closed before every test that does not ask for it
    (`pytest_runtest_setup`), and deployed again by the next test that does: tests stay
    independent of their order, and a run of consecutive tests on *a* deployed stack pays
    for one deployment instead of one each."""

    def __init__(self) -> None:
        self.settings = self.outputs = self._held = None
        self.deployments = 0

    def open(self):
        if self._held is None:
            from moto.core.models import MockAWS

            from components.settings import load_stack_settings
            from runner.emulator import stack

            # A module or class fixture's own emulator still up: its tests cannot share (one emulator at a time).
            assert MockAWS._nested_count == 0, "an emulator is up in this process already: no shared_stack here"

            held = contextlib.ExitStack()
            self.settings = load_stack_settings("dev")
            self.outputs = held.enter_context(stack.local_stack(self.settings))
            self._held, self.deployments = held, self.deployments + 1
        return self.outputs

    def close(self) -> None:
        if self._held is not None:
            held, self._held, self.outputs = self._held, None, None
            held.close()


SHARED_STACK = SharedStack()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture of a test that does not use the shared stack (module fixtures that deploy
    their own included): the shared one goes."""
    if "shared_stack" not in item.fixturenames:
        SHARED_STACK.close()


def pytest_sessionfinish(session):
    SHARED_STACK.close()


@pytest.fixture
def shared_stack(monkeypatch):
    """For a test that needs *a* deployed dev stack, not a fresh one: `run.py --local` in it runs on
    the shared stack (`SharedStack`) instead of deploying its own; the fixture's value is that
    stack's outputs. Each run keeps to its own execution name and --runs-dir; what a test patches
    while it runs (monkeypatch, undone after it) reaches the shared stack as it would its own. A
    test that changes what is deployed (the engine, the program), or that needs the emulator's
    shutdown (a run cut short, joined threads) or a deployment of its own, does not use it."""
    import runner.emulator
    from runner.emulator import stack

    outputs = SHARED_STACK.open()

    def local_stack(settings):
        return contextlib.nullcontext(outputs) if settings == SHARED_STACK.settings else stack.local_stack(settings)

    monkeypatch.setattr(runner.emulator, "local_stack", local_stack)
    return outputs


@pytest.fixture(scope="module")
def stack():
    """The dev stack deployed on the emulator once for a module's tests; the fixture's value is its
    outputs. A module that needs other settings deploys its own (`emulated_execution.deployed_with`)
    in a fixture of the same name."""
    from components.settings import load_stack_settings
    from runner.emulator import local_stack

    with local_stack(load_stack_settings("dev")) as outputs:
        yield outputs


@pytest.fixture
def no_deployment(monkeypatch):
    """Deploying is an error: a run that must be refused, or stopped, before it. The list of the
    settings a deployment was attempted with (empty when none was) is the fixture's value."""
    import runner.emulator

    deployed = []

    def local_stack(settings):
        deployed.append(settings)
        raise runner.emulator.DeployError("stopped by the test")

    monkeypatch.setattr(runner.emulator, "local_stack", local_stack)
    return deployed
