"""Several hosts training together, as the container's `distributed.py` runs them.

A round's first host (hosts in name order) runs the tracker; the others learn its port from a
file it writes once the tracker listens (the container uses port 9099, then 9100, on its master;
here each round gets a free port on 127.0.0.1, since all hosts share this machine). The image
table says which tracker: 1.7-1's Python RabitTracker with `collective.init`, or 3.x's native one
with `collective.CommunicatorContext` and `dmlc_timeout = max(connect_retry_timeout, 30)`.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from xgboost import collective
from xgboost.tracker import RabitTracker

CONNECT_RETRY_TIMEOUT = 10  # distributed.rabit_run's connect_retry_timeout


class _NoDelayListener:
    """1.7.4's Python tracker socket, handing out connections with TCP_NODELAY set.

    Latency only: the tracker answers a worker in several 4-byte writes, which Nagle's algorithm
    holds back behind the worker's delayed ACK (40 ms each on Linux loopback)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def accept(self):
        connection, address = self.sock.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def close(self) -> None:
        self.sock.close()


class Round:
    """One collective round (the container's `distributed.Rabit` context)."""

    def __init__(self, image, ml: Path, round_name: str, hosts: list[str], current_host: str):
        self.image, self.hosts, self.current_host = image, sorted(hosts), current_host
        self.is_master = current_host == self.hosts[0]
        self._address = ml.parent / self.hosts[0] / "output" / f"tracker-{round_name}"
        self._tracker = self._context = None

    def __enter__(self) -> Round:
        port = self._start_tracker() if self.is_master else self._tracker_port()
        rank = self.hosts.index(self.current_host)
        if self.image.tracker == "python":
            collective.init(
                DMLC_NUM_WORKER=len(self.hosts),
                DMLC_TRACKER_URI="127.0.0.1",
                DMLC_TRACKER_PORT=port,
                DMLC_TASK_ID=self.current_host,
            )
        else:
            self._context = collective.CommunicatorContext(
                dmlc_tracker_uri="127.0.0.1",
                dmlc_tracker_port=port,
                dmlc_task_id=str(rank),
                dmlc_timeout=max(CONNECT_RETRY_TIMEOUT, self.image.dmlc_timeout_floor),
            )
            self._context.__enter__()
        return self

    def _start_tracker(self) -> int:
        if self.image.tracker == "python":
            self._tracker = RabitTracker(host_ip="127.0.0.1", n_workers=len(self.hosts), sortby="task")
            self._tracker.sock = _NoDelayListener(self._tracker.sock)
            self._tracker.start(len(self.hosts))
            port = self._tracker.port
        else:
            self._tracker = RabitTracker(n_workers=len(self.hosts), host_ip="127.0.0.1", port=0, sortby="task")
            self._tracker.start()
            port = int(self._tracker.worker_args()["dmlc_tracker_port"])
        partial = self._address.with_suffix(".partial")
        partial.write_text(str(port))
        partial.rename(self._address)  # the others never read half a port number
        return port

    def _tracker_port(self) -> int:
        """Waits as long as it takes, as the container's hosts retry: the first host may still be
        loading a large share; the job's stop or deadline ends the wait (the emulator ends the host)."""
        while not self._address.exists():
            time.sleep(0.005)
        return int(self._address.read_text())

    def __exit__(self, exc_type, *exc_info) -> None:
        if exc_type is not None:
            # Failing: report it now. Waiting for the round's end could wait for ever (peers blocked
            # in a collective call); the emulator ends every host once this one exits.
            return
        if self._context is not None:
            self._context.__exit__(None, None, None)
        else:
            collective.finalize()
        if self._tracker is not None:
            if self.image.tracker == "python":
                self._tracker.join()
            else:
                self._tracker.wait_for()

    def synchronize(self, data: object) -> list:
        """Every host's `data`, in rank order (the container's RabitHelper.synchronize)."""
        return [
            collective.broadcast(data if rank == collective.get_rank() else None, rank)
            for rank in range(collective.get_world_size())
        ]
