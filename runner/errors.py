"""The run script's usage error, raised by the modules run.py uses and reported by runner.cli."""


class UsageError(Exception):
    """A problem the user fixes by changing how they call run.py; printed as one line, exit 2."""
