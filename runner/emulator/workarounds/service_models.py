"""Each AWS service model is read once per process, not once per session.

botocore parses a service's JSON model once per `Loader`, and each botocore `Session` makes
its own; moto makes a fresh loader for every model it reads. A local run has several
sessions: boto3's default (which `mock_aws` resets on start), moto's own (to list a service's
regions, it loads the whole model: 2 MB for SageMaker) and the roles' sessions. So the
SageMaker model was parsed four times per run, and each fresh loader scanned botocore's data
folders again. Here every botocore session shares one loader, and moto one of its own, which
hands out botocore's parsed model wherever neither adds extras to it (moto's extras for S3
change the model, so S3 is parsed by each). Loads are serialised: the program's
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
from collections.abc import Iterator

import botocore.loaders
import botocore.session


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
            if api_version is None:  # "latest" and the version it names are one entry
                api_version = self.determine_latest_version(service_name, type_name)
            return super().load_service_model(service_name, type_name, api_version)

    def load_data_with_path(self, name):
        with self._lock:  # data files (endpoints, ...) and, through it, every model file
            return super().load_data_with_path(name)


class _BotocoreLoader(_SerialLoads, botocore.loaders.Loader):
    pass


def botocore_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    """`botocore.loaders.create_loader`, one instance per search path."""
    return _botocore_loader(search_path_string)  # one cache key for () and (None,)


@functools.cache
def _botocore_loader(search_path_string: str | None) -> botocore.loaders.Loader:
    if search_path_string is None:
        return _BotocoreLoader()
    return _BotocoreLoader(
        extra_search_paths=[
            os.path.expanduser(os.path.expandvars(path)) for path in search_path_string.split(os.pathsep)
        ]
    )


@functools.cache
def moto_loader():
    """`moto.core.loaders.create_loader`, one instance (moto is imported here, not with this module)."""
    import moto.core.loaders

    class _MotoLoader(_SerialLoads, moto.core.loaders.Loader):
        def load_service_model(self, service_name, type_name, api_version=None):
            """botocore's parsed model itself when neither loader adds extras to that file (all of
            this stack's services but S3): it is parsed once, and neither side changes it."""
            with self._lock:
                botocore_side = botocore_loader()
                if api_version is None:
                    api_version = self.determine_latest_version(service_name, type_name)
                own_copy = any(
                    os.path.exists(
                        os.path.join(moto.core.loaders.moto_root, service_name, api_version, f"{type_name}{suffix}")
                    )
                    for suffix in (".json", ".json.gz")
                )
                if (
                    own_copy
                    or api_version != botocore_side.determine_latest_version(service_name, type_name)
                    or any(self._find_extras(service_name, type_name, api_version))
                    or any(botocore_side._find_extras(service_name, type_name, api_version))
                ):
                    return super().load_service_model(service_name, type_name, api_version)
                return botocore_side.load_service_model(service_name, type_name, api_version)

    return _MotoLoader(extra_search_paths=[moto.core.loaders.moto_root])


@contextlib.contextmanager
def installed(with_moto: bool = True) -> Iterator[None]:
    """Both loaders patched in; with `with_moto=False` botocore's only (nothing of moto is imported):
    what `run.py --local` reads before the deployment (the stack's settings) is parsed once too."""
    if not with_moto:
        botocore_loader()
        original = botocore.session.create_loader
        botocore.session.create_loader = botocore_loader
        try:
            yield
        finally:
            botocore.session.create_loader = original
        return
    import moto.core.utils

    botocore_loader(), moto_loader()  # made here, not by two threads at once
    originals = botocore.session.create_loader, moto.core.utils.create_loader
    botocore.session.create_loader, moto.core.utils.create_loader = botocore_loader, moto_loader
    try:
        yield
    finally:
        botocore.session.create_loader, moto.core.utils.create_loader = originals
