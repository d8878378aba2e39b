"""Worker processes for ``classify_many(n_jobs > 1)``, fed through their own pipes.

Each worker is ``python -m paysift.workers``: it reads pickled requests on stdin
and writes each answer (a batch's offsets and probabilities) on stdout, in order.
The calling process never blocks on a pipe and runs no helper thread: its pipe
ends are non-blocking and ``pump`` moves whatever bytes ``select`` says can move,
so the caller keeps building blocks, and predicting batches of its own, while
the workers compute. Handing work over through joblib/loky cost more: its
dispatch threads wait for the interpreter lock that the consuming process holds
(``benchmarks/speed.py`` measures both against two independent processes).

Pickles pass only between this process and the children it started, never
through files. Workers outlive one ``classify_many`` call and are reused by the
next; they exit when the calling process closes their stdin or dies. ``select``
cannot poll pipes on Windows: there ``SUPPORTED`` is false and the caller uses
joblib instead.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import IO, Any

from .errors import WorkerError

SUPPORTED = os.name == "posix"
_HEADER = struct.Struct("<Q")
_PIPE_BYTES = 1 << 20  # room for a few batches in each pipe (Linux; elsewhere the system's default)
_READ_BYTES = 1 << 20


class Answer:
    """The answer to one request, filled in by ``pump`` when it arrives."""

    __slots__ = ("_error", "_value", "ready")

    def __init__(self) -> None:
        self.ready = False
        self._value: Any = None
        self._error: BaseException | None = None

    def result(self) -> Any:
        """The answer, or the worker's exception raised here."""
        if self._error is not None:
            raise self._error
        return self._value


def _enlarge_pipe(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # a smaller pipe only means more rounds of select, never a wrong result


class Worker:
    """One worker process, the bytes still to send to it, and its unanswered requests."""

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
        self._stdin, self._stdout = self._process.stdin, self._process.stdout
        for stream in (self._stdin, self._stdout):
            _enlarge_pipe(stream.fileno())
            os.set_blocking(stream.fileno(), False)
        self._outgoing = bytearray()
        self._incoming = bytearray()
        self._waiting: deque[Answer] = deque()  # requests sent, in order, not answered yet

    @property
    def pending(self) -> int:
        """Requests whose answers have not arrived."""
        return len(self._waiting)

    def submit(self, request: object) -> Answer:
        """Queue ``request`` (it is sent as the pipe takes it); its answer comes later."""
        data = pickle.dumps(request, protocol=5)
        self._outgoing += _HEADER.pack(len(data))
        self._outgoing += data
        self._write()
        answer = Answer()
        self._waiting.append(answer)
        return answer

    def _write(self) -> None:
        try:
            written = os.write(self._stdin.fileno(), self._outgoing)
        except BlockingIOError:
            return
        except (OSError, ValueError) as error:
            raise self._died() from error
        del self._outgoing[:written]

    def _read(self) -> None:
        """Read what has arrived; an answer that has begun to arrive is read to its
        end (the worker is writing it, so that is quick), so that the worker gets
        its next batch at once instead of after this process's next piece of work."""
        fd = self._stdout.fileno()
        while True:
            try:
                data = os.read(fd, _READ_BYTES)
            except BlockingIOError:
                select.select([fd], [], [])
                continue
            except (OSError, ValueError) as error:
                raise self._died() from error
            if not data:
                raise self._died()
            self._incoming += data
            self._take_answers()
            if not self._incoming:
                return

    def _take_answers(self) -> None:
        while len(self._incoming) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._incoming)
            end = _HEADER.size + size
            if len(self._incoming) < end:
                return
            kind, value = pickle.loads(bytes(self._incoming[_HEADER.size : end]))
            del self._incoming[:end]
            answer = self._waiting.popleft()
            answer.ready = True
            if kind == "error":
                answer._error = value
            else:
                answer._value = value

    def drain(self) -> None:
        """Wait for every pending answer and drop it, so the next caller starts clean."""
        while self._waiting:
            pump([self], None)

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        """End the process (closing its stdin asks it to exit) and release the pipes."""
        for stream in (self._stdin, self._stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _died(self) -> WorkerError:
        try:
            code = self._process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        return WorkerError(f"a paysift worker process exited unexpectedly (exit code {code})")


def pump(workers: Sequence[Worker], timeout: float | None) -> None:
    """Send what the workers' pipes take and read the answers that arrived,
    waiting up to ``timeout`` seconds (None: until something moves) for either."""
    readers = {w._stdout.fileno(): w for w in workers if w._waiting}
    writers = {w._stdin.fileno(): w for w in workers if w._outgoing}
    if not readers and not writers:
        return
    readable, writable, _ = select.select(list(readers), list(writers), [], timeout)
    for fd in writable:
        writers[fd]._write()
    for fd in readable:
        readers[fd]._read()


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
    if sys.is_finalizing():
        return  # a stream left open at exit: the workers end when their stdin closes
    for worker in workers:
        try:
            worker.drain()
        except WorkerError:
            worker.close()
            continue
        with _idle_lock:
            _idle.append(worker)


def _forget_idle() -> None:
    # a forked child must not share its parent's workers (their pipes carry the parent's requests)
    _idle.clear()


@atexit.register
def _close_idle() -> None:
    with _idle_lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        worker.close()


if SUPPORTED:
    os.register_at_fork(after_in_child=_forget_idle)


def serve(handle: Callable[[Any], object], stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The worker's side: answer each request with ``("ok", handle(request))`` or
    ``("error", exception)``, in order, until stdin ends. Blocking here is safe:
    the caller never blocks, so it always takes the answers in the end."""
    while len(header := stdin.read(_HEADER.size)) == _HEADER.size:
        body = stdin.read(_HEADER.unpack(header)[0])
        try:
            answer: tuple[str, object] = ("ok", handle(pickle.loads(body)))
        except Exception as error:  # noqa: BLE001 - sent back and raised in the caller
            answer = ("error", error)
        try:
            data = pickle.dumps(answer, protocol=5)
        except Exception:  # noqa: BLE001 - an exception that cannot be pickled
            data = pickle.dumps(("error", WorkerError(f"{type(answer[1]).__name__}: {answer[1]}")), protocol=5)
        stdout.write(_HEADER.pack(len(data)) + data)
        stdout.flush()


# the model of the current classify_many call: None for the shipped one, or the
# error that unpickling the caller's model raised
_model: Any = None


def _handle(request: Any) -> object:
    """``("model", pickled model or None)`` sets the model the next batches use;
    ``("batch", batch, skip)`` predicts a batch with it."""
    from .api import _predict_batch

    global _model
    if request[0] == "model":
        try:
            _model = None if request[1] is None else pickle.loads(request[1])
        except Exception as error:  # every later batch reports it
            _model = error
            raise
        return None
    _, batch, skip = request
    if isinstance(_model, Exception):
        raise WorkerError(f"the worker could not load the model: {_model!r}")
    return _predict_batch(batch, _model, skip)


if __name__ == "__main__":
    serve(_handle, sys.stdin.buffer, sys.stdout.buffer)
