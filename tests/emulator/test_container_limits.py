"""The config check warns when maxRuntimeSeconds is below what a first AWS job needs."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from components.settings import REALISTIC_MIN_RUNTIME_SECONDS, load_stack_settings


def test_a_max_runtime_below_the_realistic_floor_is_warned_about_in_one_line():
    settings = load_stack_settings("dev")
    assert settings.warnings == []  # the dev stack's 3600 s
    short = dataclasses.replace(settings, max_runtime_seconds=60)
    assert len(short.warnings) == 1 and short.warnings[0].startswith("maxRuntimeSeconds: 60 s is below")
    assert "\n" not in short.warnings[0]
    assert dataclasses.replace(settings, max_runtime_seconds=REALISTIC_MIN_RUNTIME_SECONDS).warnings == []


def test_the_rehearsal_prints_the_warning_before_it_starts(monkeypatch, caplog):
    from runner.emulator import stack

    settings = dataclasses.replace(load_stack_settings("dev"), max_runtime_seconds=60)

    class Started(Exception):
        pass

    def no_emulator(**_):
        raise Started()

    monkeypatch.setattr(stack, "mock_aws", no_emulator)
    with caplog.at_level(logging.WARNING, logger=stack.log.name), pytest.raises(Started):
        with stack.local_stack(settings):
            pass
    assert any(record.getMessage().startswith("maxRuntimeSeconds: 60 s") for record in caplog.records)
