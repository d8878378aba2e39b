"""Worker processes for ``classify_many(n_jobs > 1)``, fed through their own pipes.

Each worker is ``python -m paysift.workers``: it reads pickled batches of pages on
stdin and writes back their predictions (offsets and probabilities) on stdout. A
thread on each side does nothing but move whole messages between the pipe and a
queue, so neither process ever waits on the other's pipe: the caller keeps
building blocks (and predicting batches of its own) while a worker computes.
Handing work over through joblib/loky cost more: its dispatch threads wait for the
interpreter lock the consuming process holds, and two jobs gained 1.6x where
two independent processes gain 1.9x (``benchmarks/speed.py``).

Messages are pickles between this process and the children it started, never read
from files. Workers outlive one ``classify_many`` call and are reused by the next;
they exit when the calling process closes their stdin or dies.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from .errors import WorkerError

_HEADER = struct.Struct("<Q")
_PIPE_BYTES = 1 << 20  # room for a couple of batches in each pipe (Linux; elsewhere the default)


def _write(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=5)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def _pump(stream: IO[bytes], into: queue.SimpleQueue[bytes | None]) -> None:
    """Move whole messages from ``stream`` to ``into`` until the stream ends (then None)."""
    try:
        while (header := _read_exactly(stream, _HEADER.size)) is not None:
            body = _read_exactly(stream, _HEADER.unpack(header)[0])
            if body is None:
                break
            into.put(body)
    except (OSError, ValueError):
        pass
    into.put(None)


def _enlarge_pipe(stream: IO[bytes]) -> None:
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # a smaller pipe only means more waiting, never a wrong result


class Worker:
    """One worker process and the thread that collects its answers, in order."""

    def __init__(self) -> None:
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "paysift.workers"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
        except OSError as error:
            raise WorkerError(f"could not start a paysift worker process: {error}") from error
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin, stdout = self._process.stdin, self._process.stdout
        _enlarge_pipe(self._stdin)
        _enlarge_pipe(stdout)
        self._answers: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        threading.Thread(target=_pump, args=(stdout, self._answers), daemon=True).start()
        self.pending = 0  # requests sent whose answers are not read yet

    def send(self, message: object) -> None:
        try:
            _write(self._stdin, message)
        except (OSError, ValueError) as error:
            raise self._died() from error
        self.pending += 1

    def receive(self, block: bool = True) -> tuple[bool, Any]:
        """``(True, answer)`` to the oldest pending request, or ``(False, None)``
        if it is not in yet and ``block`` is false."""
        try:
            body = self._answers.get(block)
        except queue.Empty:
            return False, None
        if body is None:
            raise self._died()
        self.pending -= 1
        kind, value = pickle.loads(body)
        if kind == "error":
            raise value
        return True, value

    def drain(self) -> None:
        """Read and drop every pending answer, so the next caller starts clean."""
        while self.pending:
            self.pending -= 1
            if self._answers.get() is None:
                raise self._died()

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        """End the process (closing its stdin asks it to exit) and release the pipes."""
        try:
            self._stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        assert self._process.stdout is not None
        self._process.stdout.close()  # the reading thread then ends

    def _died(self) -> WorkerError:
        code = self._process.poll()
        return WorkerError(f"a paysift worker process exited unexpectedly (exit code {code})")


_idle: list[Worker] = []
_idle_lock = threading.Lock()


def borrow(count: int) -> list[Worker]:
    """``count`` live workers, reusing idle ones; give them back with ``give_back``."""
    with _idle_lock:
        reused, _idle[:count] = _idle[:count], []
    workers = []
    for worker in reused:
        if worker.alive():
            workers.append(worker)
        else:
            worker.close()
    return workers + [Worker() for _ in range(count - len(workers))]


def give_back(workers: list[Worker]) -> None:
    """Return workers for reuse; one that cannot be drained is closed instead."""
    for worker in workers:
        try:
            worker.drain()
        except WorkerError:
            worker.close()
            continue
        if not worker.alive():
            worker.close()
            continue
        with _idle_lock:
            _idle.append(worker)


@atexit.register
def _close_idle() -> None:
    with _idle_lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        worker.close()


def serve(handle: Callable[[Any], object], stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The worker's side: answer each request with ``("ok", handle(request))`` or
    ``("error", exception)``, in order, until stdin ends. Reading requests in this
    thread cannot deadlock: the caller's thread drains every answer at once."""
    while (header := _read_exactly(stdin, _HEADER.size)) is not None:
        body = _read_exactly(stdin, _HEADER.unpack(header)[0])
        if body is None:
            return
        try:
            answer: tuple[str, object] = ("ok", handle(pickle.loads(body)))
        except Exception as error:  # noqa: BLE001 - sent back and raised in the caller
            answer = ("error", error)
        try:
            _write(stdout, answer)
        except (pickle.PicklingError, TypeError, AttributeError):
            _write(stdout, ("error", WorkerError(f"{type(answer[1]).__name__}: {answer[1]}")))


_model: Any = None  # the model of the current classify_many call, sent once per call


def _handle(request: Any) -> object:
    """``("model", model)`` sets the model the next batches use (None: the shipped
    one); ``("batch", batch, skip)`` predicts a batch with it."""
    from .api import _predict_batch

    global _model
    if request[0] == "model":
        _model = request[1]
        return None
    _, batch, skip = request
    return _predict_batch(batch, _model, skip)


if __name__ == "__main__":
    serve(_handle, sys.stdin.buffer, sys.stdout.buffer)
