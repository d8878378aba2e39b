"""classify(), clean() and classify_many(): the library's public entry points."""

from __future__ import annotations

import gc
import pickle
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from .model import LinearModel, default_model
from .segment import paragraph_spans
from .types import Block, ItemError, make_block

if TYPE_CHECKING:
    from .workers import Worker

ARTICLE = "article"
# pages classified in one numpy pass: enough to share the fixed cost of a call,
# few enough that the pass's arrays stay in the CPU caches
BATCH_PAGES = 32
BATCH_CHARS = 1 << 18
# with n_jobs > 1: batches queued at each worker process (one computing, one
# waiting in its pipe), and batches this process may predict itself, past those,
# while the oldest batch waits for its worker
WORKER_QUEUE = 2
LOCAL_AHEAD = 4
# where joblib stands in for the workers: a task costs about a millisecond of
# dispatch, so it holds several numpy passes
JOBLIB_TASK_PAGES = 8 * BATCH_PAGES
JOBLIB_TASK_CHARS = 8 * BATCH_CHARS
GC_PAUSE_BLOCKS = 1000  # pages with this many blocks are built with the garbage collector paused


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}; decode bytes first (e.g. data.decode('utf-8'))")
    return text


@dataclass(frozen=True)
class Predictions:
    """Predictions of several pages in one set of arrays: cheap to send back from
    a worker process (a few arrays, not two per page, which cost more to pickle
    than to compute). Page ``i`` has rows ``rows[i]`` up to ``rows[i + 1]``."""

    spans: npt.NDArray[np.intp]  # (start, end) of each block, relative to its page
    probs: npt.NDArray[np.float64]
    rows: npt.NDArray[np.intp]

    def page(self, i: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        a, b = self.rows[i], self.rows[i + 1]
        return self.spans[a:b], self.probs[a:b]


def _predict_texts(texts: Sequence[str], model: LinearModel) -> Predictions:
    """Predict pages together: one pass of numpy over all of them, so the fixed
    cost of a call is shared, while context never crosses from page to page."""
    if len(texts) == 1:
        spans = paragraph_spans(texts[0])
        return Predictions(spans, model.predict_proba(texts[0], spans), np.array([0, len(spans)]))
    text = "\n".join(texts)  # a line break between pages: no block spans two
    offsets = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]])
    bounds = paragraph_spans(text)
    pages = np.searchsorted(offsets, bounds[:, 0], side="right") - 1
    stops = np.cumsum(np.bincount(pages, minlength=len(texts)))
    firsts = np.concatenate(([0], stops[:-1]))
    probs = model.predict_proba(text, bounds, firsts[pages], stops[pages])
    return Predictions(bounds - offsets[pages][:, None], probs, np.concatenate(([0], stops)))


def _blocks(
    text: str, spans: npt.NDArray[np.intp], probs: npt.NDArray[np.float64], labels: Sequence[str]
) -> list[Block]:
    # Blocks hold no reference cycles, so the cyclic garbage collector has nothing
    # to find among them; pausing it while a large page's blocks are made saves
    # the repeated scans of every new object (12% of the time on a 5 MB page).
    paused = len(spans) >= GC_PAUSE_BLOCKS and gc.isenabled()
    if paused:
        gc.disable()
    try:
        return [
            make_block(text[start:end], labels[k], row[k], dict(zip(labels, row)), start, end)
            for (start, end), k, row in zip(spans.tolist(), probs.argmax(axis=1).tolist(), probs.tolist())
        ]
    finally:
        if paused:
            gc.enable()


def classify(text: str, *, model: LinearModel | None = None) -> list[Block]:
    """Split ``text`` into blocks and label each one.

    >>> [(b.label, b.text) for b in classify("Subscribe today to keep reading every story.")]
    [('paywall', 'Subscribe today to keep reading every story.')]
    """
    _check_text(text)
    model = model or default_model()
    return _blocks(text, *_predict_texts([text], model).page(0), model.labels)


def clean(text: str, *, model: LinearModel | None = None) -> str:
    """The article blocks of ``text`` only, in order, joined by newlines."""
    return "\n".join(block.text for block in classify(text, model=model) if block.label == ARTICLE)


# what a batch's item became: its page number in the batch's Predictions, or the
# error that stands in for it (an ItemError to yield, a TypeError to raise)
Outcome = int | ItemError | TypeError


def _predict_batch(
    batch: list[tuple[int, object]], model: LinearModel | None, skip: bool
) -> tuple[Predictions, list[Outcome]]:
    """Predictions of a batch's pages, and what became of each item in order: a
    bad item becomes an ItemError (``skip``) or its TypeError, for the caller to
    raise after yielding what came before it."""
    model = model or default_model()
    good = [text for _, text in batch if isinstance(text, str)]
    parts = [_predict_texts([str(text) for _, text in part], model) for part in _batches(good)]
    if parts:
        row_starts = np.cumsum([0] + [len(part.spans) for part in parts[:-1]])
        rows = np.concatenate([[0]] + [part.rows[1:] + start for part, start in zip(parts, row_starts)])
        predictions = Predictions(
            np.concatenate([part.spans for part in parts]), np.concatenate([part.probs for part in parts]), rows
        )
    else:
        predictions = Predictions(np.zeros((0, 2), np.intp), np.zeros((0, len(model.labels))), np.zeros(1, np.intp))
    outcomes: list[Outcome] = []
    page = 0
    for index, text in batch:
        if isinstance(text, str):
            outcomes.append(page)
            page += 1
            continue
        error = TypeError(f"item {index} of the stream must be str, got {type(text).__name__}")
        outcomes.append(ItemError(index, f"TypeError: {error}") if skip else error)
    return predictions, outcomes


def _batches(
    texts: Iterable[object], pages: int = BATCH_PAGES, chars: int = BATCH_CHARS
) -> Iterator[list[tuple[int, object]]]:
    """Consecutive numbered pages, ``pages`` or ``chars`` at the most per batch."""
    batch: list[tuple[int, object]] = []
    size = 0
    for item in enumerate(texts):
        batch.append(item)
        size += len(item[1]) if isinstance(item[1], str) else 0
        if len(batch) == pages or size >= chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def classify_many(
    texts: Iterable[str],
    *,
    model: LinearModel | None = None,
    n_jobs: int = 1,
    errors: Literal["raise", "skip"] = "raise",
) -> Iterator[list[Block] | ItemError]:
    """Classify a stream of pages lazily, yielding one result per page in input order.

    With ``n_jobs > 1`` this process and ``n_jobs - 1`` worker processes (started
    on first use, reused by later calls) share the batches; the stream is read
    only a few batches ahead of what has been yielded. With ``errors="raise"``
    a page that cannot be classified (a non-``str`` item) raises an error that
    names its position; with ``errors="skip"`` an ``ItemError`` takes its place.
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be 1 or more, got {n_jobs!r}")
    skip = errors == "skip"
    labels = (model or default_model()).labels
    for batch, (predictions, outcomes) in _predicted_batches(texts, model, skip, n_jobs):
        for (_, text), outcome in zip(batch, outcomes):
            if isinstance(outcome, TypeError):
                raise outcome
            yield outcome if isinstance(outcome, ItemError) else _blocks(str(text), *predictions.page(outcome), labels)


def _predicted_batches(
    texts: Iterable[object], model: LinearModel | None, skip: bool, n_jobs: int
) -> Iterator[tuple[list[tuple[int, object]], tuple[Predictions, list[Outcome]]]]:
    """Each batch with its predictions, in input order.

    With ``n_jobs > 1``, ``n_jobs - 1`` worker processes predict batches and send
    back offsets and probabilities only, which cost far less to pickle than blocks;
    this process turns them into blocks from its own copy of the text, and predicts
    batches itself while it waits for a worker's.
    """
    if n_jobs == 1:
        for batch in _batches(texts):
            yield batch, _predict_batch(batch, model, skip)
        return
    from . import workers  # only paid for by parallel callers

    if not workers.SUPPORTED:
        yield from _joblib_batches(texts, model, skip, n_jobs)
        return
    borrowed = workers.borrow(n_jobs - 1)
    try:
        pickled_model = None if model is None else pickle.dumps(model, protocol=5)
        for worker in borrowed:
            worker.submit(("model", pickled_model))
        yield from _shared_batches(_batches(texts), borrowed, model, skip)
    finally:
        workers.give_back(borrowed)


def _shared_batches(
    batches: Iterator[list[tuple[int, object]]], borrowed: list[Worker], model: LinearModel | None, skip: bool
) -> Iterator[tuple[list[tuple[int, object]], tuple[Predictions, list[Outcome]]]]:
    """Batches in input order, predicted by the workers (each kept WORKER_QUEUE
    batches ahead) and, while the oldest waits for its worker, by this process."""
    from .workers import Answer, pump

    order: deque[tuple[list[tuple[int, object]], Answer | tuple[Predictions, list[Outcome]]]] = deque()
    local_ahead = WORKER_QUEUE * len(borrowed) + LOCAL_AHEAD  # batches in order past which this process predicts none
    most_ahead = local_ahead + WORKER_QUEUE * len(borrowed)  # ... and past which no worker gets one
    exhausted = False

    def take() -> list[tuple[int, object]] | None:
        nonlocal exhausted
        batch = next(batches, None)
        exhausted = batch is None
        return batch

    while True:
        for worker in borrowed:
            while worker.pending < WORKER_QUEUE and len(order) < most_ahead and not exhausted and (batch := take()):
                order.append((batch, worker.submit(("batch", batch, skip))))
        if not order:
            return
        batch, predicted = order[0]
        if not isinstance(predicted, Answer):
            order.popleft()
            yield batch, predicted
            continue
        if predicted.ready:
            order.popleft()
            yield batch, predicted.result()
            continue
        pump(borrowed, 0)
        if predicted.ready:
            continue  # the workers get their next batches before this process builds blocks
        if not exhausted and len(order) < local_ahead and (batch := take()):
            order.append((batch, _predict_batch(batch, model, skip)))
        else:
            pump(borrowed, None)


def _joblib_batches(
    texts: Iterable[object], model: LinearModel | None, skip: bool, n_jobs: int
) -> Iterator[tuple[list[tuple[int, object]], tuple[Predictions, list[Outcome]]]]:
    """Batches predicted by joblib worker processes, where ``select`` cannot poll
    pipes (Windows); each task holds several batches to share joblib's dispatch cost."""
    from joblib import Parallel, delayed

    sent: deque[list[tuple[int, object]]] = deque()  # tasks whose predictions are still to come

    def tasks() -> Iterator[list[tuple[int, object]]]:
        for task in _batches(texts, JOBLIB_TASK_PAGES, JOBLIB_TASK_CHARS):
            sent.append(task)
            yield task

    parallel = Parallel(n_jobs=n_jobs, return_as="generator", pre_dispatch="2*n_jobs")
    for predictions in parallel(delayed(_predict_batch)(task, model, skip) for task in tasks()):
        yield sent.popleft(), predictions
