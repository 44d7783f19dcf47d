"""`ast.parse` runs one call at a time in a rehearsal process.

CPython 3.11's AST constructor (what `ast.parse` and `ast.literal_eval` use to build Python
objects) counts its recursion depth in interpreter-wide state, so two threads parsing at once
can fail one of them with "SystemError: AST constructor recursion depth mismatch"
(python/cpython gh-106905). A deployment parses on several threads: werkzeug compiles the URL
rules of moto's services as each is first called, and moto's Step Functions parser reads every
string literal of a definition with `ast.literal_eval`. About one `run.py --local` in 25 failed
to deploy here with that error. A lock around the module function (which `literal_eval` calls
too) costs nothing measurable.
"""

from __future__ import annotations

import ast
import functools
import threading

_LOCK = threading.Lock()


def install() -> None:
    if getattr(ast.parse, "serialised", False):
        return
    parse = ast.parse

    @functools.wraps(parse)
    def serialised(*args, **kwargs):
        with _LOCK:
            return parse(*args, **kwargs)

    serialised.serialised = True
    ast.parse = serialised
