"""classify(), clean() and classify_many(): the library's public entry points."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Literal

from .model import LinearModel, default_model
from .segment import split_paragraphs
from .types import Block, ItemError

ARTICLE = "article"
# pages per joblib task: large enough that inter-process overhead stays small
BATCH_PAGES = 64


def _check_text(text: object, where: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{where} must be str, got {type(text).__name__}; decode bytes first (e.g. data.decode('utf-8'))")
    return text


def classify(text: str, *, model: LinearModel | None = None) -> list[Block]:
    """Split ``text`` into blocks and label each one.

    >>> [(b.label, b.text) for b in classify("Subscribe now for unlimited access.")]
    [('paywall', 'Subscribe now for unlimited access.')]
    """
    _check_text(text)
    model = model or default_model()
    spans = split_paragraphs(text)
    probs = model.predict_proba(text, spans)
    labels = model.labels
    best = probs.argmax(axis=1).tolist()
    blocks = []
    for (start, end), k, row in zip(spans, best, probs.tolist()):
        blocks.append(Block(text[start:end], labels[k], row[k], dict(zip(labels, row)), start, end))
    return blocks


def clean(text: str, *, model: LinearModel | None = None) -> str:
    """The article blocks of ``text`` only, in order, joined by newlines."""
    return "\n".join(block.text for block in classify(text, model=model) if block.label == ARTICLE)


def _classify_batch(
    batch: list[tuple[int, object]], model: LinearModel | None, skip: bool
) -> list[list[Block] | ItemError]:
    results: list[list[Block] | ItemError] = []
    for index, text in batch:
        try:
            results.append(classify(_check_text(text, f"item {index} of the stream"), model=model))
        except Exception as exc:
            if not skip:
                raise
            results.append(ItemError(index, f"{type(exc).__name__}: {exc}"))
    return results


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
    skip = errors == "skip"
    numbered = enumerate(texts)
    if n_jobs == 1:
        for item in numbered:
            yield from _classify_batch([item], model, skip)
        return
    from joblib import Parallel, delayed  # only paid for by parallel callers

    batches = iter(lambda: list(itertools.islice(numbered, BATCH_PAGES)), [])
    parallel = Parallel(n_jobs=n_jobs, return_as="generator", pre_dispatch="2*n_jobs")
    for results in parallel(delayed(_classify_batch)(batch, model, skip) for batch in batches):
        yield from results
