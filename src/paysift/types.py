"""Result types of the public API."""

from __future__ import annotations

from dataclasses import dataclass, field

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
