"""Each AWS service model is read once per process, not once per session.

botocore parses a service's JSON model once per `Loader`, and each botocore `Session` makes
its own; moto makes a fresh loader for every model it reads. A local run has several
sessions: boto3's default (which `mock_aws` resets on start), moto's own (to list a service's
regions, it loads the whole model: 2 MB for SageMaker) and the roles' sessions. So the
SageMaker model was parsed four times per run, and each fresh loader scanned botocore's data
folders again. Here every botocore session shares one loader, and moto one of its own (its
models carry moto's extras, so the two are not merged). Loads are serialised: the program's
resources are created on several threads at once, and two threads asking for one model would
each parse it.

Patched: `botocore.session.create_loader` (the factory a Session calls for its data loader)
and `moto.core.utils.create_loader` (used only by `_load_service_model`). The loaders outlive
the patch: later runs in the process (the tests) reuse what earlier runs loaded.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from typing import Iterator, Optional

import botocore.loaders
import botocore.session
import moto.core.loaders
import moto.core.utils


class _SearchPaths(list):
    """Every boto3 Session appends boto3's data folder to its loader's search paths: once is enough."""

    def append(self, path) -> None:
        with _SerialLoads._lock:
            if path not in self:
                super().append(path)


class _SerialLoads:
    """Loads (cached per instance by botocore) happen one at a time, and one model is one cache
    entry: botocore's cache keys on how the arguments were passed (clients pass `type_name`
    by position, `Session.get_service_model` by keyword)."""

    _lock = threading.RLock()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._search_paths = _SearchPaths(self._search_paths)

    def load_service_model(self, service_name, type_name, api_version=None):
        with self._lock:
            return super().load_service_model(service_name, type_name, api_version)

    def load_data_with_path(self, name):
        with self._lock:  # data files (endpoints, ...) and, through it, every model file
            return super().load_data_with_path(name)


class _BotocoreLoader(_SerialLoads, botocore.loaders.Loader):
    pass


class _MotoLoader(_SerialLoads, moto.core.loaders.Loader):
    pass


@functools.cache
def botocore_loader(search_path_string: Optional[str] = None) -> botocore.loaders.Loader:
    """`botocore.loaders.create_loader`, one instance per search path."""
    if search_path_string is None:
        return _BotocoreLoader()
    return _BotocoreLoader(extra_search_paths=[os.path.expanduser(os.path.expandvars(path))
                                               for path in search_path_string.split(os.pathsep)])


@functools.cache
def moto_loader() -> moto.core.loaders.Loader:
    """`moto.core.loaders.create_loader`, one instance."""
    return _MotoLoader(extra_search_paths=[moto.core.loaders.moto_root])


@contextlib.contextmanager
def installed() -> Iterator[None]:
    botocore_loader(), moto_loader()  # made here, not by two threads at once
    originals = botocore.session.create_loader, moto.core.utils.create_loader
    botocore.session.create_loader, moto.core.utils.create_loader = botocore_loader, moto_loader
    try:
        yield
    finally:
        botocore.session.create_loader, moto.core.utils.create_loader = originals
