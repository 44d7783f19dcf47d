"""The offline rehearsal: the pipeline's stack on an in-process AWS emulator (moto), one room per AWS piece.

stack.py, preflight.py   deploy the program on the emulator (`local_stack`); what a run is checked against first
image_environments.py    each SageMaker XGBoost image's Python environment (.image-envs/<version>)
engine.py                the engine double: `__main__.py` under Pulumi mocks, resources created in moto
iam.py                   IAM: each principal under its role's deployed policies; the least-privilege report
awslambda.py             Lambda: Invoke runs the function's deployed package
stepfunctions/           Step Functions: the SageMaker integration (.sync), Fail states, parse once, end wake-up
sagemaker/               SageMaker: the API's jobs (jobs.py), training hosts (hosts.py), transforms (serving.py),
                         container processes in the images' environments (container_pool.py)
server.py                `run.py serve`: the emulator as a local AWS endpoint, for the holders of its key
endpoint_guard.py        what that endpoint admits: signature, Host, the calls it serves, body size
workarounds/             moto's and CPython's process-level workarounds (deferred Batch, shared models, ast)
"""

from runner.emulator.workarounds import (
    moto_batch_deferred,  # noqa: F401  (before moto's interpreter loads)
    python_ast,
)

python_ast.install()

__all__ = ["DeployError", "local_stack"]


def __getattr__(name: str):
    """The stack (moto, boto3, Pulumi: about 0.8 s) loads on first use, so that what needs only
    the preflight checks does not pay for it."""
    if name in __all__:
        from runner.emulator import stack

        return getattr(stack, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
