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


def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < MIN_WORDS:
        return frozenset()
    return frozenset(zip(words, words[1:], words[2:]))


def near_duplicates(pages: Sequence[Page]) -> list[tuple[str, str, str, str]]:
    """``(label, publisher, text, other publisher)`` of every near-duplicate block."""
    blocks = [
        (line.label or "", page.publisher, page.text[line.start : line.end])
        for page in pages
        for line in page.lines
    ]
    shingles = [_shingles(text) for _, _, text in blocks]
    postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, grams in enumerate(shingles):
        for gram in grams:
            postings[gram].append(index)
    found = []
    for index, grams in enumerate(shingles):
        if not grams:
            continue
        publisher = blocks[index][1]
        shared = Counter(other for gram in grams for other in postings[gram] if blocks[other][1] != publisher)
        match = next((other for other, count in shared.most_common(1) if count > SHARED * len(grams)), None)
        if match is not None:
            label, _, text = blocks[index]
            found.append((label, publisher, text, blocks[match][1]))
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
    duplicated = Counter(label for label, _, _, _ in near_duplicates(pages))
    return {
        label: {"blocks": counted[label], "near_duplicates": duplicated[label],
                "share": round(duplicated[label] / counted[label], 4)}
        for label in sorted(counted)
    }
