"""classify(), clean() and classify_many(): the library's public entry points."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from .model import LinearModel, default_model
from .segment import paragraph_spans
from .types import Block, ItemError, make_block

ARTICLE = "article"
# pages classified in one numpy pass: enough to share the fixed cost of a call,
# few enough that the pass's arrays stay in the CPU caches
BATCH_PAGES = 32
BATCH_CHARS = 1 << 18
# pages sent to a worker process as one task: each task costs about a millisecond
# of dispatch, so a task holds several numpy passes
TASK_PAGES = 8 * BATCH_PAGES
TASK_CHARS = 8 * BATCH_CHARS
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

    With ``n_jobs > 1`` batches of pages go to joblib worker processes; the
    stream is read only as fast as the workers need it. With ``errors="raise"``
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

    With ``n_jobs > 1`` joblib worker processes predict the batches and send back
    offsets and probabilities only, which costs far less to pickle than blocks;
    this process turns them into blocks from its own copy of the text.
    """
    sent: deque[list[tuple[int, object]]] = deque()  # batches whose predictions are still to come

    def tasks(pages: int = BATCH_PAGES, chars: int = BATCH_CHARS) -> Iterator[list[tuple[int, object]]]:
        for batch in _batches(texts, pages, chars):
            sent.append(batch)
            yield batch

    if n_jobs == 1:
        results: Iterable[tuple[Predictions, list[Outcome]]] = (
            _predict_batch(batch, model, skip) for batch in tasks()
        )
    else:
        from joblib import Parallel, delayed  # only paid for by parallel callers

        parallel = Parallel(n_jobs=n_jobs, return_as="generator", pre_dispatch="2*n_jobs")
        results = parallel(delayed(_predict_batch)(batch, model, skip) for batch in tasks(TASK_PAGES, TASK_CHARS))
    for predictions in results:
        yield sent.popleft(), predictions
