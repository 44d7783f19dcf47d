"""Process-level workarounds for moto and CPython, kept apart from the AWS pieces."""
