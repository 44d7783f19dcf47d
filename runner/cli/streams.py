"""run.py's stdout and stderr, whose reader may go away (`run.py ... | head -n 3`)."""

from __future__ import annotations

import contextlib
import os


class ReaderMayLeave:
    """A stream whose reader may go away: once it has, what is written is dropped, never raised,
    so a finished run is still saved and reported by exit code."""

    def __init__(self, stream):
        self._stream = stream

    def _dropped(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (BrokenPipeError, ValueError):  # the reader left, or the stream was closed
            self._dropped()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            self._dropped()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
