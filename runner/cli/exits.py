"""How run.py ends: its exit codes, and each error a command raises as one line on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from runner.errors import UsageError
from runner.terminal import shown

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class LocalDeployFailed(Exception):
    """The program failed under the local engine double (a resource type it cannot create, ...)."""


class Phase:
    """What is under way, for the line Ctrl-C prints."""

    def __init__(self) -> None:
        self.now = "before anything started"


def reported(work: Callable[[Phase], int]) -> int:
    """`work`'s exit code; an error it raises is printed as one line and ends run.py with its code."""
    phase = Phase()
    try:
        return work(phase)
    except UsageError as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except NoCredentialsError:
        print(
            "run.py: error: no AWS credentials found: configure them (aws configure, AWS_PROFILE "
            "or environment variables), or rehearse offline with --local",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            print(
                f"run.py: error: {shown(error.response['Error'].get('Message') or 'ExecutionAlreadyExists')}: "
                "that name was used before; pick another --name or leave --name out",
                file=sys.stderr,
            )
            return EXIT_USAGE
        print(f"run.py: error: {shown(error)}", file=sys.stderr)
        return EXIT_FAILED
    except (BotoCoreError, LocalDeployFailed) as error:
        print(f"run.py: error: {shown(error)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"run.py: interrupted {phase.now}", file=sys.stderr)
        return EXIT_INTERRUPTED
