"""The rehearsal parses Python on several threads at once (werkzeug's URL rules for moto, moto's
Step Functions parser): `ast.parse` must run one call at a time there (runner/emulator/workarounds/python_ast.py)."""

import ast
import threading

import runner.emulator  # noqa: F401  (installs it)
from runner.emulator.workarounds import python_ast


def test_a_parse_waits_while_another_thread_parses():
    parsed = threading.Event()
    with python_ast._LOCK:  # as if another thread were inside ast.parse
        thread = threading.Thread(target=lambda: (ast.literal_eval("(1, -1)"), parsed.set()))
        thread.start()
        assert not parsed.wait(0.3)
    assert parsed.wait(5)
    thread.join()
    assert ast.literal_eval("[(1, 2), {'a': 3}]") == [(1, 2), {"a": 3}]
