"""What a trained model holds, read from its file without XGBoost: rounds kept and best iteration.

run.py has no XGBoost (images have theirs); the model's header says enough. Two formats:
XGBoost 1.7's legacy binary (`binf`, what the 1.7-1 image saves) and UBJSON (2.1+, the 3.x
images), both read by structure, never by executing anything; a file they do not describe is
"unknown" (None), never an error.
"""

from __future__ import annotations

import io
import itertools
import struct
import tarfile
from typing import BinaryIO

MAX_MODEL_BYTES = 256 << 20  # a model member larger than this is not read
# An archive or a model past these is "unknown" too: a crafted one cost minutes and GBs (a million
# empty members before xgboost-model; a value a byte, `[ZZZ...]`), a real one is far below them.
MAX_MEMBERS = 100  # SageMaker's model.tar.gz of the XGBoost algorithm holds xgboost-model alone
MAX_VALUES = 1 << 21  # UBJSON values decoded, a typed array counting one: about 20 a tree, 100,000 trees
# Legacy binary (xgboost 1.7 src/learner.cc, src/gbm/gbtree_model.h, src/tree/tree_model.cc):
_LEARNER_PARAM = 136  # LearnerModelParamLegacy: contain_extra_attrs at byte 12
_GBTREE_PARAM = 160  # GBTreeModelParam: num_trees at 0, num_parallel_tree at 4
_TREE_PARAM = 148  # TreeParam: num_nodes at 4; then 20-byte nodes, 16-byte node stats
_NODE_BYTES = 20 + 16


def model_facts(archive: bytes | BinaryIO) -> dict | None:
    """{"rounds": N, "best_iteration": M or None, "trees": T, "format": ...} of a model.tar.gz
    holding `xgboost-model`, or None when it cannot be read."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive) if isinstance(archive, bytes) else archive, mode="r:gz") as tar:
            member = next(
                (
                    m
                    for m in itertools.islice(tar, MAX_MEMBERS)
                    if m.isfile() and m.name.lstrip("./") == "xgboost-model"
                ),
                None,
            )
            if member is None or member.size > MAX_MODEL_BYTES:
                return None
            data = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError):
        return None
    return facts(data)


def facts(data: bytes) -> dict | None:
    try:
        if data[:4] == b"binf":
            return _legacy(data)
        if data[:1] == b"{":
            return _ubjson(data)
    except (struct.error, IndexError, ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        return None
    return None


def _summary(trees: int, parallel: int, classes: int, attributes: dict, kind: str) -> dict:
    per_round = max(1, parallel) * max(1, classes)
    best = attributes.get("best_iteration")
    return {
        "rounds": trees // per_round,
        "trees": trees,
        "format": kind,
        "best_iteration": int(best) if isinstance(best, str) and best.isdigit() else None,
    }


def _legacy(data: bytes) -> dict:
    at = 4
    num_class, extra_attrs = struct.unpack_from("<ii", data, at + 8)
    at += _LEARNER_PARAM
    for _ in range(2):  # objective and booster names
        (length,) = struct.unpack_from("<Q", data, at)
        at += 8 + length
    trees, parallel = struct.unpack_from("<ii", data, at)
    if trees < 0 or trees * _TREE_PARAM > len(data):
        raise ValueError("tree count")
    at += _GBTREE_PARAM
    for _ in range(trees):
        (nodes,) = struct.unpack_from("<i", data, at + 4)
        if nodes < 0:
            raise ValueError("negative node count")
        at += _TREE_PARAM + nodes * _NODE_BYTES
    at += 4 * trees  # tree_info
    attributes = {}
    if extra_attrs:
        (count,) = struct.unpack_from("<Q", data, at)
        at += 8
        for _ in range(min(count, 1000)):
            pair = []
            for _ in range(2):
                (length,) = struct.unpack_from("<Q", data, at)
                pair.append(data[at + 8 : at + 8 + length].decode())
                at += 8 + length
            attributes[pair[0]] = pair[1]
    if at > len(data):
        raise ValueError("truncated")
    return _summary(trees, parallel, num_class, attributes, "xgboost legacy binary")


def _ubjson(data: bytes) -> dict:
    """Only the parts named below are decoded; every tree's arrays are skipped by their sizes."""
    document = _Ubjson(data).value(depth=0)
    learner = document["learner"]
    model = learner["gradient_booster"]["model"]
    param = model["gbtree_model_param"]
    return _summary(
        int(param["num_trees"]),
        int(param.get("num_parallel_tree", "1")),
        int(learner["learner_model_param"].get("num_class", "0")),
        learner.get("attributes") or {},
        "xgboost UBJSON",
    )


class _Ubjson:
    """A small UBJSON reader (the subset XGBoost writes): optimized typed arrays are skipped, not built."""

    _SIZES = {b"i": 1, b"U": 1, b"I": 2, b"l": 4, b"L": 8, b"d": 4, b"D": 8, b"C": 1}
    _FORMATS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q", b"d": ">f", b"D": ">d"}

    def __init__(self, data: bytes):
        self.data, self.at, self.values = data, 0, 0

    def _take(self, count: int) -> bytes:
        if count < 0 or self.at + count > len(self.data):
            raise ValueError("truncated")
        piece = self.data[self.at : self.at + count]
        self.at += count
        return piece

    def _int(self) -> int:
        marker = self._take(1)
        return struct.unpack(self._FORMATS[marker], self._take(self._SIZES[marker]))[0]

    def value(self, depth: int, marker: bytes | None = None):
        if depth > 64:
            raise ValueError("nested too deep")
        self.values += 1
        if self.values > MAX_VALUES:
            raise ValueError("too many values")
        marker = marker or self._take(1)
        if marker in self._FORMATS:
            return struct.unpack(self._FORMATS[marker], self._take(self._SIZES[marker]))[0]
        if marker in (b"T", b"F", b"Z"):
            return {b"T": True, b"F": False, b"Z": None}[marker]
        if marker == b"C":
            return self._take(1).decode()
        if marker == b"S":
            return self._take(self._int()).decode()
        if marker in (b"{", b"["):
            kind = count = None
            if self.data[self.at : self.at + 1] == b"$":
                self.at += 1
                kind = self._take(1)
            if self.data[self.at : self.at + 1] == b"#":
                self.at += 1
                count = self._int()
            elif kind is not None:
                raise ValueError("typed container without a count")
            if marker == b"[" and kind in self._SIZES and kind != b"C":  # numbers: skipped, not built
                self._take(count * self._SIZES[kind])
                return None
            if marker == b"[" and kind in (b"T", b"F", b"Z"):  # values without bytes: nothing to read
                return None
            end = b"}" if marker == b"{" else b"]"
            result: dict | list = {} if marker == b"{" else []
            index = 0
            while (index < count) if count is not None else self.data[self.at : self.at + 1] != end:
                if isinstance(result, dict):
                    key = self._take(self._int()).decode()
                    result[key] = self.value(depth + 1, kind)
                else:
                    result.append(self.value(depth + 1, kind))
                index += 1
            if count is None:
                self.at += 1
            return result
        raise ValueError(f"UBJSON marker {marker!r}")
