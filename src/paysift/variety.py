"""How varied a corpus is: the share of blocks that near-duplicate another publisher's.

A hundred publishers sharing one sentence teaches the model that sentence, not
the kind of text; this measure keeps the corpus honest. A block counts when it
has at least MIN_WORDS words and more than half of its word 3-grams also occur
in one block of a different publisher.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

from .corpus import Page

MIN_WORDS = 8  # shorter blocks ("Subscribe", "Sign in") are expected to repeat
SHARED = 0.5  # share of a block's 3-grams another block must hold to be its near-duplicate

_WORD = re.compile(r"\w+")


def _shingles(text: str, min_words: int = MIN_WORDS) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < min_words:
        return frozenset()
    return frozenset(zip(words, words[1:], words[2:]))


def _blocks(pages: Sequence[Page]) -> list[tuple[str, str, str]]:
    return [(line.label or "", page.publisher, page.text[line.start : line.end]) for page in pages for line in page.lines]


def near_duplicates(
    pages: Sequence[Page], reference: Sequence[Page] | None = None, min_words: int = MIN_WORDS
) -> list[tuple[str, str, str, str]]:
    """``(label, publisher, text, matched text)`` of every block of ``pages`` with at
    least ``min_words`` words that near-duplicates a block of another publisher of
    ``pages`` or, when ``reference`` is given, any block of ``reference``."""
    blocks = _blocks(pages)
    targets = _blocks(reference) if reference is not None else blocks
    shingles = [_shingles(text, min_words) for _, _, text in blocks]
    target_shingles = [_shingles(text, min_words) for _, _, text in targets] if reference is not None else shingles
    postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, grams in enumerate(target_shingles):
        for gram in grams:
            postings[gram].append(index)
    found = []
    for index, grams in enumerate(shingles):
        if not grams:
            continue
        label, publisher, text = blocks[index]
        shared = Counter(
            other
            for gram in grams
            for other in postings[gram]
            if reference is not None or targets[other][1] != publisher
        )
        match = next((other for other, count in shared.most_common(1) if count > SHARED * len(grams)), None)
        if match is not None:
            found.append((label, publisher, text, targets[match][2]))
    return found


def near_duplicate_shares(pages: Sequence[Page]) -> dict[str, dict[str, float | int]]:
    """Per label: blocks of MIN_WORDS words or more, how many near-duplicate another
    publisher's block, and the share."""
    counted: Counter[str] = Counter(
        line.label or ""
        for page in pages
        for line in page.lines
        if _shingles(page.text[line.start : line.end])
    )
    duplicated = Counter(label for label, *_ in near_duplicates(pages))
    return {
        label: {"blocks": counted[label], "near_duplicates": duplicated[label],
                "share": round(duplicated[label] / counted[label], 4)}
        for label in sorted(counted)
    }
