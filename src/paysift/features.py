"""Turn the blocks of a page into hashed n-gram features and shape features.

Training (``train.py``) and inference (``model.py``) both go through
``page_features``, so the two cannot disagree. Everything is vectorised with
numpy over the code points of the page: hashing a character n-gram costs a
multiply and a shift per position, not a Python call, which is what lets
character n-grams (robust to unseen publishers, typos and inflected languages)
run at many megabytes per second.

Text is folded before hashing: lower case, every digit becomes ``0`` (so
"₹2,700" and "₹3,900" share features) and every space becomes a plain space.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from .segment import LINE_BREAKS

# A block longer than this many characters (no real paragraph is) is featurised
# from its first MAX_BLOCK_CHARS characters only, which bounds time and memory
# on hostile input such as a 50 MB single line.
MAX_BLOCK_CHARS = 20_000
# Blocks are featurised in runs spanning at most this many characters of the
# page, so memory stays bounded however large the page is.
CHUNK_CHARS = 1 << 17

_P = np.uint64(0x100000001B3)  # odd multiplier of the rolling polynomial hash
_GOLDEN = 0x9E3779B97F4A7C15  # Fibonacci hashing constant, odd

# character classes, one bit each
_LETTER, _UPPER, _DIGIT, _CURRENCY, _SPACE, _WORD, _TERMINAL = (1 << i for i in range(7))
_TERMINAL_CHARS = ".!?…:;\"'”’»)"

# names of the dense shape features, in column order
SHAPE_FEATURES = (
    "log_length",
    "log_tokens",
    "digit_share",
    "currency_share",
    "has_currency",
    "upper_share",
    "letter_share",
    "ends_terminal",
    "starts_upper",
    "starts_digit_or_currency",
    "short",
)
# Only what a block shows by itself: its place in the page and the page's length
# describe our corpus's layouts, not the web's, and a 400-line full-page
# extraction sent them far outside anything seen in training.
LOG_LENGTH_CAP = np.log1p(5000.0)  # beyond a long paragraph, length tells nothing more
LOG_TOKENS_CAP = np.log1p(1000.0)


@dataclass(frozen=True)
class FeatureSettings:
    """How text becomes features; stored in every model's manifest."""

    hash_bits: int = 18
    char_ngrams: tuple[int, ...] = (3, 4, 5)
    word_ngrams: tuple[int, ...] = (1, 2)

    @property
    def n_hashed(self) -> int:
        return 1 << self.hash_bits

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FeatureSettings:
        bits = data["hash_bits"]
        chars = data["char_ngrams"]
        words = data["word_ngrams"]
        if not isinstance(bits, int) or not 8 <= bits <= 26:
            raise ValueError(f"hash_bits must be an integer from 8 to 26, got {bits!r}")
        if not isinstance(chars, list) or not all(isinstance(n, int) and 1 <= n <= 8 for n in chars):
            raise ValueError(f"char_ngrams must be a list of sizes from 1 to 8, got {chars!r}")
        if not isinstance(words, list) or not set(words) <= {1, 2}:
            raise ValueError(f"word_ngrams must be a subset of [1, 2], got {words!r}")
        return cls(bits, tuple(chars), tuple(words))


@dataclass(frozen=True)
class HashedGroup:
    """Hashed items of one feature group (character or word n-grams) of a run of blocks.

    ``index[k, i]`` is the hash bucket of item ``i`` for n-gram kind ``k``, or
    ``n_hashed`` (a bucket that is always zero) where there is no such item.
    Items ``segments[b]`` up to ``segments[b + 1]`` (or the end) belong to block ``b``.
    Every item of block ``b`` has the value ``scale[b]`` (an L2-style normalisation).
    """

    index: npt.NDArray[np.intp]
    segments: npt.NDArray[np.intp]
    scale: npt.NDArray[np.float64]


@dataclass(frozen=True)
class PageChunk:
    """Features of a run of consecutive blocks of one page."""

    first_block: int
    groups: tuple[HashedGroup, ...]
    shape: npt.NDArray[np.float64]  # (blocks, len(SHAPE_FEATURES))


@functools.cache
def _tables() -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint8]]:
    """Fold map and class bits of every code point of the Basic Multilingual Plane."""
    # str methods mapped over one string of all code points run in C: ~25 ms
    # once, against ~150 ms for a Python loop asking each character in turn
    plane = "".join(map(chr, range(0x10000)))

    def has(predicate: Callable[[str], bool]) -> npt.NDArray[np.bool_]:
        return np.frombuffer(bytes(map(predicate, plane)), dtype=np.bool_)

    letter, upper, space = has(str.isalpha), has(str.isupper), has(str.isspace)
    digit, numeric = has(str.isdecimal), has(str.isnumeric)
    currency = np.array([category == "Sc" for category in map(unicodedata.category, plane)])
    terminal = np.zeros(0x10000, dtype=np.bool_)
    terminal[[ord(char) for char in _TERMINAL_CHARS]] = True
    bits = (
        letter * _LETTER
        | upper * _UPPER
        | digit * _DIGIT
        | currency * _CURRENCY
        | space * _SPACE
        | (letter | numeric) * _WORD
        | terminal * _TERMINAL
    ).astype(np.uint8)
    # U+0130 is the one code point whose lower case is two code points
    fold = _codes(plane.replace("\u0130", "I").lower()).copy()
    fold[digit] = ord("0")
    fold[space] = ord(" ")
    fold[[ord(char) for char in LINE_BREAKS]] = ord("\n")
    return fold, bits


def _codes(text: str) -> npt.NDArray[np.uint32]:
    # surrogatepass: a lone surrogate in a str is a code point like any other here
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _mix(values: npt.NDArray[np.uint64], salt: int, bits: int) -> npt.NDArray[np.intp]:
    """Map 64-bit hashes to ``bits``-bit buckets, a different function per ``salt``."""
    mixed = (values ^ np.uint64(salt * _GOLDEN & 0xFFFFFFFFFFFFFFFF)) * np.uint64(_GOLDEN)
    mixed ^= mixed >> np.uint64(29)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    return (mixed >> np.uint64(64 - bits)).astype(np.intp)


def _char_group(
    folded: npt.NDArray[np.uint64],
    inside: npt.NDArray[np.bool_],
    starts: npt.NDArray[np.intp],
    lengths: npt.NDArray[np.intp],
    settings: FeatureSettings,
) -> HashedGroup:
    size = len(folded)
    empty = settings.n_hashed
    sizes = settings.char_ngrams
    index = np.full((len(sizes), size), empty, dtype=np.intp)
    rolling = folded
    valid = inside  # valid[i]: the n characters from i all lie inside one block
    for n in range(1, min(max(sizes), size) + 1):
        if n > 1:
            # all n characters inside blocks means inside one block: blocks are
            # apart by at least one character (a line break) outside them
            rolling = rolling[:-1] * _P + folded[n - 1 :]
            valid = valid[:-1] & inside[n - 1 :]
        if n in sizes:
            index[sizes.index(n), : size - n + 1] = np.where(valid, _mix(rolling, n, settings.hash_bits), empty)
    counts = sum(np.maximum(lengths - n + 1, 0) for n in sizes)
    return HashedGroup(index, starts, 1.0 / np.sqrt(np.maximum(counts, 1)))


def _word_group(
    folded: npt.NDArray[np.uint64],
    word: npt.NDArray[np.bool_],
    starts: npt.NDArray[np.intp],
    settings: FeatureSettings,
) -> tuple[HashedGroup, npt.NDArray[np.intp]]:
    """Word unigrams and bigrams of the blocks; also returns tokens per block."""
    empty = settings.n_hashed
    before = np.concatenate(([False], word[:-1]))
    after = np.concatenate((word[1:], [False]))
    token_starts = np.flatnonzero(word & ~before)
    token_ends = np.flatnonzero(word & ~after) + 1
    # A token's hash is the wrapping sum of its characters, each mixed with its
    # offset in the token: a cumulative sum gives every token's hash at once.
    positions = np.arange(len(folded))
    first = np.maximum.accumulate(np.where(word & ~before, positions, 0))
    terms = (folded + np.uint64(1)) * np.uint64(_GOLDEN)
    terms ^= (positions - first).astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
    terms *= word
    total = np.concatenate(([np.uint64(0)], np.cumsum(terms, dtype=np.uint64)))
    token_hash = total[token_ends] - total[token_starts]
    block_tokens = np.searchsorted(token_starts, starts)
    n_tokens = np.diff(np.append(block_tokens, len(token_starts)))
    kinds = settings.word_ngrams
    index = np.full((len(kinds), len(token_hash)), empty, dtype=np.intp)
    count = np.zeros(len(starts), dtype=np.int64)
    if 1 in kinds:
        index[kinds.index(1)] = _mix(token_hash, 101, settings.hash_bits)
        count += n_tokens
    if 2 in kinds and len(token_hash) > 1:
        token_block = np.searchsorted(starts, token_starts, side="right") - 1
        same_block = token_block[:-1] == token_block[1:]
        pairs = token_hash[:-1] * np.uint64(0x94D049BB133111EB) + token_hash[1:]
        index[kinds.index(2), :-1] = np.where(same_block, _mix(pairs, 102, settings.hash_bits), empty)
        count += np.maximum(n_tokens - 1, 0)
    return HashedGroup(index, block_tokens, 1.0 / np.sqrt(np.maximum(count, 1))), n_tokens


def _shape(
    bits: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.intp],
    lengths: npt.NDArray[np.intp],
    true_lengths: npt.NDArray[np.intp],
    n_tokens: npt.NDArray[np.intp],
) -> npt.NDArray[np.float64]:
    def per_block(flag: int) -> npt.NDArray[np.float64]:
        # segments never empty: each block has a character; gaps hold only spaces
        return np.add.reduceat((bits & flag) > 0, starts, dtype=np.float64)

    length = lengths.astype(np.float64)
    letters = per_block(_LETTER)
    currency = per_block(_CURRENCY)
    first = bits[starts]
    last = bits[starts + lengths - 1]
    return np.column_stack(
        (
            np.minimum(np.log1p(true_lengths), LOG_LENGTH_CAP),
            np.minimum(np.log1p(n_tokens), LOG_TOKENS_CAP),
            per_block(_DIGIT) / length,
            currency / length,
            currency > 0,
            per_block(_UPPER) / np.maximum(letters, 1.0),
            letters / length,
            (last & _TERMINAL) > 0,
            (first & _UPPER) > 0,
            (first & (_DIGIT | _CURRENCY)) > 0,
            n_tokens <= 3,
        )
    ).astype(np.float64)


def _chunks(starts: Sequence[int], ends: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Yield ``(first, stop)`` block ranges whose text spans at most CHUNK_CHARS."""
    first = 0
    for block in range(1, len(starts) + 1):
        if block == len(starts) or min(ends[block], starts[block] + MAX_BLOCK_CHARS) - starts[first] > CHUNK_CHARS:
            yield first, block
            first = block


def page_features(text: str, spans: Sequence[tuple[int, int]], settings: FeatureSettings) -> Iterator[PageChunk]:
    """Featurise the blocks ``spans`` of ``text``, a bounded run of blocks at a time."""
    if not spans:
        return
    fold, bits_table = _tables()
    starts_all = [start for start, _ in spans]
    ends_all = [end for _, end in spans]
    for first, stop in _chunks(starts_all, ends_all):
        offset = starts_all[first]
        starts = np.array(starts_all[first:stop], dtype=np.intp)
        true_ends = np.array(ends_all[first:stop], dtype=np.intp)
        ends = np.minimum(true_ends, starts + MAX_BLOCK_CHARS)
        codes = _codes(text[offset : int(ends[-1])])
        starts -= offset
        ends -= offset
        small = np.minimum(codes, 0xFFFF)
        folded = np.where(codes > 0xFFFF, codes, fold[small]).astype(np.uint64)
        bits = np.where(codes > 0xFFFF, 0, bits_table[small]).astype(np.uint8)
        edges = np.zeros(len(codes) + 1, dtype=np.int8)
        edges[starts] = 1
        edges[ends] = -1  # never a start: blocks are apart by at least a line break
        inside = np.cumsum(edges[:-1], dtype=np.int8) > 0
        lengths = ends - starts
        chars = _char_group(folded, inside, starts, lengths, settings)
        words, n_tokens = _word_group(folded, ((bits & _WORD) > 0) & inside, starts, settings)
        shape = _shape(bits, starts, lengths, true_ends - (starts + offset), n_tokens)
        yield PageChunk(first, (chars, words), shape)


# neighbours whose first-pass probabilities the second pass sees, as block offsets
CONTEXT_OFFSETS = (-2, -1, 1, 2)
CONTEXT_WINDOW = 3  # blocks on each side averaged into the "surroundings" features


def context_features(probs: npt.NDArray[np.float64], shape: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Second-pass features of each block of one page: its own first-pass
    probabilities and those of its neighbours, because "₹900" or "3 Months" alone
    is ambiguous and the price card around it is not."""
    n, n_labels = probs.shape
    columns = [np.log(np.clip(probs, 1e-6, 1.0))]
    for offset in CONTEXT_OFFSETS:
        shifted = np.zeros_like(probs)
        if offset < 0 and n > -offset:
            shifted[-offset:] = probs[:offset]
        elif offset > 0 and n > offset:
            shifted[:-offset] = probs[offset:]
        columns.append(shifted)
    index = np.arange(n)
    total = np.concatenate((np.zeros((1, n_labels)), np.cumsum(probs, axis=0)))
    low = np.maximum(index - CONTEXT_WINDOW, 0)
    high = np.minimum(index + CONTEXT_WINDOW + 1, n)
    around = total[high] - total[low] - probs
    columns.append(around / np.maximum(high - low - 1, 1)[:, None])
    log_length = shape[:, SHAPE_FEATURES.index("log_length")]
    previous = np.concatenate(([0.0], log_length[:-1]))
    following = np.concatenate((log_length[1:], [0.0]))
    columns.append(shape)
    columns.append(np.column_stack((previous, following)))
    return np.hstack(columns)


def n_context_features(n_labels: int) -> int:
    """Number of columns ``context_features`` gives for a model of ``n_labels`` labels."""
    return n_labels * (len(CONTEXT_OFFSETS) + 2) + len(SHAPE_FEATURES) + 2
