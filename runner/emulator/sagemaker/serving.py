"""What the platform does around the serving container in a batch transform, and the pipe to it.

SageMaker unpacks the model's model.tar.gz into the container's /opt/ml/model, splits each input
object into MultiRecord mini-batches of at most MaxPayloadInMB (SplitType Line), posts each to the
container and writes the answers, in order, to `<object>.out`. Here the container is a process in
the image's environment (runner/container/serving.py): requests and answers are frames on its pipes.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from runner.container.failures import ContainerError, client_error
from runner.emulator.sagemaker import container_pool

MODEL_FILE = "xgboost-model"


def model_archive(model: bytes) -> bytes:
    """model.tar.gz with one member `xgboost-model`, as SageMaker packs /opt/ml/model."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(MODEL_FILE)
        info.size = len(model)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


def decompress(data: bytes, compression: str | None, where: str) -> bytes:
    if (compression or "None") == "Gzip":
        try:
            return gzip.decompress(data)
        except OSError as error:
            raise client_error(f"{where}: CompressionType Gzip but the object is not gzip ({error})") from None
    return data


def _unpack(model_tar_gz: bytes, model_dir: Path) -> None:
    """The archive's regular files into /opt/ml/model; a member that would land outside is refused."""
    try:
        with tarfile.open(fileobj=io.BytesIO(model_tar_gz), mode="r:*") as archive:
            members = [member for member in archive.getmembers() if member.isfile()]
            if not members:
                raise client_error("Unable to load model: model.tar.gz holds no model file")
            archive.extractall(model_dir, members=members, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise client_error(f"Unable to load model: model.tar.gz is not a usable tar archive ({error})") from None


def mini_batches(chunks: Iterable[bytes], max_payload: int) -> Iterator[bytes]:
    """SplitType Line, BatchStrategy MultiRecord: whole lines, as many as fit in `max_payload` bytes.

    Memory holds one batch and one chunk, whatever the object's size.
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        while len(pending) > max_payload:
            cut = pending.rfind(b"\n", 0, max_payload + 1)
            if cut < 0:
                raise client_error(
                    f"A record is larger than MaxPayloadInMB ({max_payload >> 20} MB): split it or raise MaxPayloadInMB"
                )
            yield pending[: cut + 1]
            pending = pending[cut + 1 :]
    if pending:
        yield pending


class Serving:
    """A serving container of image `version` holding `model_tar_gz`; `predict(payload)` answers one request."""

    def __init__(self, version: str, model_tar_gz: bytes):
        self._root = Path(tempfile.mkdtemp(prefix="sagemaker_serving_"))
        self._process: subprocess.Popen | None = None
        try:
            (self._root / "model").mkdir()
            (self._root / "output").mkdir()
            _unpack(model_tar_gz, self._root / "model")
            self._process = container_pool.start(version)
            self._send(json.dumps({"job": "serve", "ml": str(self._root)}).encode() + b"\n")
            self._receive()  # the model loaded, or why not
        except BaseException:
            self.close()
            raise

    def _send(self, data: bytes) -> None:
        try:
            self._process.stdin.write(data)
            self._process.stdin.flush()
        except BrokenPipeError:
            raise self._died() from None

    def _receive(self) -> bytes:
        head = self._process.stdout.read(5)
        if len(head) < 5:
            raise self._died()
        status, size = struct.unpack(">BI", head)
        body = self._process.stdout.read(size)
        if status:
            raise ContainerError(body.decode(errors="replace"))
        return body

    def _died(self) -> ContainerError:
        code = self._process.wait()
        log = self._root / "output" / "log"
        last = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        return ContainerError(
            f"AlgorithmError: the serving container exited with code {code}" + (f": {last[0]}" if last else "")
        )

    def predict(self, payload: bytes) -> bytes:
        self._send(struct.pack(">I", len(payload)) + payload)
        return self._receive()

    def transform(self, chunks: Iterable[bytes], max_payload: int) -> Iterator[bytes]:
        """The `.out` object's bytes for one input object, a mini-batch at a time."""
        for batch in mini_batches(chunks, max_payload):
            if batch.strip():
                yield self.predict(batch)

    def close(self) -> None:
        if self._process is not None:
            self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stdout.close()
            self._process = None
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> Serving:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
