"""A state machine's definition is parsed once for its creation and first execution, not twice.

moto parses a definition (ANTLR, about 0.09 s for ours) to validate it in CreateStateMachine,
throws the result away, and parses it again when an execution starts. Here the validation's
result is kept, and the next execution of that same definition takes it. Once only: a parsed
program is evaluated by one execution and never handed to another (later executions parse
their own), so no interpreter state is shared.

Patched moto internals: the module-level name `AmazonStateLanguageParser` in
moto/stepfunctions/parser/models.py (used only by `_validate_definition`) and in
moto/stepfunctions/parser/backend/execution_worker.py (used only by
`_get_evaluation_entrypoint`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.stepfunctions.parser import models
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend import execution_worker

_validated: dict[str, tuple] = {}  # definition -> its parse, not yet taken by an execution


class _ValidationParser(AmazonStateLanguageParser):
    @staticmethod
    def parse(definition: str):
        parsed = AmazonStateLanguageParser.parse(definition)
        _validated[definition] = parsed
        return parsed


class _ExecutionParser(AmazonStateLanguageParser):
    @staticmethod
    def parse(definition: str):
        parsed = _validated.pop(definition, None)
        return parsed if parsed is not None else AmazonStateLanguageParser.parse(definition)


@contextlib.contextmanager
def installed() -> Iterator[None]:
    originals = models.AmazonStateLanguageParser, execution_worker.AmazonStateLanguageParser
    models.AmazonStateLanguageParser, execution_worker.AmazonStateLanguageParser = _ValidationParser, _ExecutionParser
    try:
        yield
    finally:
        models.AmazonStateLanguageParser, execution_worker.AmazonStateLanguageParser = originals
        _validated.clear()
