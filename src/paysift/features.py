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
# (2**15: the arrays of a run stay in the CPU caches with the weights; 2**17 was 15%
# slower on a 5 MB page)
CHUNK_CHARS = 1 << 15

_P = np.uint64(0x100000001B3)  # odd multiplier of the rolling polynomial hash
_GOLDEN = 0x9E3779B97F4A7C15  # Fibonacci hashing constant, odd

# character classes, one bit each (_WORD first: ``bits & _WORD`` is then a bool array as it is)
_WORD, _LETTER, _UPPER, _DIGIT, _CURRENCY, _SPACE, _TERMINAL, _SOLO = (1 << i for i in range(8))
# what a sentence ends on: Latin, Greek and Cyrillic; Arabic; Chinese and Japanese (full width)
_TERMINAL_CHARS = ".!?…:;\"'”’»)" + "؟۔" + "。！？．」』）"
# Chinese and Japanese write no spaces between words: each of their characters
# (Han, kana) is a word of its own, so that a sentence is not one long token that
# no other sentence shares, and token counts mean what they mean elsewhere
_SOLO_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF66, 0xFF9F))

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

    # chosen by leave-publisher-out cross-validation (see the ablation of
    # benchmarks/accuracy.py): 4-grams alone scored as well as 3+4+5-grams and
    # word bigrams added nothing, and each costs time on every page
    hash_bits: int = 18
    char_ngrams: tuple[int, ...] = (4,)
    word_ngrams: tuple[int, ...] = (1,)

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
        if not isinstance(words, list) or not set(words) <= {1, 2} or not (chars or words):
            raise ValueError(f"word_ngrams must be a subset of [1, 2] (and some n-grams used), got {words!r}")
        return cls(bits, tuple(chars), tuple(words))


@dataclass(frozen=True)
class HashedGroup:
    """Hashed items of one feature group (character or word n-grams) of a run of blocks.

    ``index[k, i]`` is the hash bucket of item ``i`` for n-gram kind ``k``, or
    ``n_hashed`` (a bucket that is always zero) where there is no such item.
    Items ``segments[b]`` up to ``segments[b + 1]`` (or the end) belong to block ``b``.
    Every item of block ``b`` has the value ``scale[b]`` (an L2-style normalisation).
    """

    index: npt.NDArray[np.int64]
    segments: npt.NDArray[np.intp]
    scale: npt.NDArray[np.float64]
    empty: npt.NDArray[np.bool_] | None  # blocks with no item (symbols have no word); None: none can be


@dataclass(frozen=True)
class PageChunk:
    """Features of a run of consecutive blocks of one page."""

    first_block: int
    groups: tuple[HashedGroup, ...]
    shape: npt.NDArray[np.float64]  # (blocks, len(SHAPE_FEATURES))


@functools.cache
def _tables() -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint8]]:
    """Fold map and class bits of every code point, so that a page is folded and
    classed by two ``take`` calls with no branch on what it holds."""
    # str methods mapped over one string of all BMP code points run in C: ~25 ms
    # once, against ~150 ms for a Python loop asking each character in turn
    plane = "".join(map(chr, range(0x10000)))

    def has(predicate: Callable[[str], bool]) -> npt.NDArray[np.bool_]:
        return np.frombuffer(bytes(map(predicate, plane)), dtype=np.bool_)

    letter, upper, space = has(str.isalpha), has(str.isupper), has(str.isspace)
    digit, numeric = has(str.isdecimal), has(str.isnumeric)
    currency = np.array([category == "Sc" for category in map(unicodedata.category, plane)])
    terminal = np.zeros(0x10000, dtype=np.bool_)
    terminal[[ord(char) for char in _TERMINAL_CHARS]] = True
    solo = np.zeros(0x10000, dtype=np.bool_)
    for first, last in _SOLO_RANGES:
        solo[first : last + 1] = True
    solo &= letter
    bits = np.zeros(0x110000, dtype=np.uint8)  # beyond the BMP (emoji, rare scripts): no class
    bits[:0x10000] = (
        letter * _LETTER
        | upper * _UPPER
        | digit * _DIGIT
        | currency * _CURRENCY
        | space * _SPACE
        | (letter | numeric) * _WORD
        | terminal * _TERMINAL
        | solo * _SOLO
    )
    fold = np.empty(0x110000, dtype=np.uint16)
    # U+0130 is the one code point whose lower case is two code points
    fold[:0x10000] = _codes(plane.replace("\u0130", "I").lower())
    fold[digit.nonzero()] = ord("0")
    fold[space.nonzero()] = ord(" ")
    fold[[ord(char) for char in LINE_BREAKS]] = ord("\n")
    # Folded text is 16 bits a character, so that four characters make one 64-bit
    # n-gram key. Beyond the BMP a code point keeps its low 11 bits inside the
    # surrogate range, which no BMP character folds to: emoji differ from letters
    # and mostly from each other.
    fold[0x10000:] = 0xD800 | (np.arange(0x10000, 0x110000) & 0x7FF)
    return fold, bits


def _codes(text: str) -> npt.NDArray[np.uint32]:
    # surrogatepass: a lone surrogate in a str is a code point like any other here
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _mix(values: npt.NDArray[np.uint64], salt: int, bits: int) -> npt.NDArray[np.int64]:
    """Map 64-bit hashes to ``bits``-bit buckets, a different function per ``salt``.

    Multiply-shift hashing: the top bits of the product with an odd constant.
    """
    multiplier = np.uint64((_GOLDEN * (2 * salt + 1)) & 0xFFFFFFFFFFFFFFFF)
    # below 2**bits, so the int64 view is the same number: an index numpy takes without a copy
    return ((values * multiplier) >> np.uint64(64 - bits)).view(np.int64)


# a 64-bit key holds this many folded 16-bit characters
_KEY_CHARS = 4
# padding after the folded text, so that every position has a whole key (two, for n-grams of 5-8)
PAD_CHARS = 2 * _KEY_CHARS - 1


def _stack(rows: list[npt.NDArray[np.int64]], width: int) -> npt.NDArray[np.int64]:
    """Rows of bucket indices as one (kinds, width) array; without a copy for one kind."""
    if len(rows) == 1:
        return rows[0][None]
    return np.stack(rows) if rows else np.zeros((0, width), dtype=np.int64)


def _char_group(
    padded: npt.NDArray[np.uint16],
    inside: npt.NDArray[np.bool_],
    starts: npt.NDArray[np.intp],
    lengths: npt.NDArray[np.intp],
    settings: FeatureSettings,
) -> HashedGroup:
    """Character n-grams of the blocks. ``padded`` is the folded text followed by
    PAD_CHARS zeros; ``inside`` marks the characters of blocks, with PAD_CHARS
    False after them."""
    size = len(padded) - PAD_CHARS
    # keys[i]: characters i to i + 3 as one integer (little-endian: character i in
    # the low 16 bits), read in place from the text's bytes with a 2-byte stride
    keys = np.ndarray((size + _KEY_CHARS,), np.dtype("<u8"), padded, 0, (padded.itemsize,))
    rows = []
    valid = inside[:size].copy()  # valid[i]: the n characters from i all lie inside one block
    n_valid = 1
    for n in sorted(settings.char_ngrams):
        # all n characters inside blocks means inside one block: blocks are
        # apart by at least one character (a line break) outside them
        for k in range(n_valid, n):
            valid &= inside[k : k + size]
        n_valid = n
        low = keys[:size] if n >= _KEY_CHARS else keys[:size] & np.uint64((1 << (16 * n)) - 1)
        if n > _KEY_CHARS:
            rest = keys[_KEY_CHARS:] & np.uint64((1 << (16 * (n - _KEY_CHARS))) - 1)
            low = low * _P + rest
        rows.append(np.where(valid, _mix(low, n, settings.hash_bits), settings.n_hashed))
    counts = sum(np.maximum(lengths - n + 1, 0) for n in settings.char_ngrams)
    # every position of a block starts an item (an empty bucket past its end)
    return HashedGroup(_stack(rows, size), starts, 1.0 / np.sqrt(np.maximum(counts, 1)), empty=None)


@functools.cache
def _powers() -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """P**i and P**-i modulo 2**64 for every position of a chunk."""
    size = max(CHUNK_CHARS, MAX_BLOCK_CHARS) + 1
    inverse = pow(int(_P), -1, 1 << 64)  # P is odd, so it has an inverse modulo 2**64
    up = np.full(size, _P, dtype=np.uint64)
    up[0] = 1
    down = np.full(size, np.uint64(inverse), dtype=np.uint64)
    down[0] = 1
    return np.cumprod(up, dtype=np.uint64), np.cumprod(down, dtype=np.uint64)


def _word_group(
    folded: npt.NDArray[np.uint16],
    word: npt.NDArray[np.bool_],
    solo: npt.NDArray[np.bool_],
    starts: npt.NDArray[np.intp],
    ends: npt.NDArray[np.intp],
    settings: FeatureSettings,
) -> tuple[HashedGroup, npt.NDArray[np.intp]]:
    """Word unigrams (and bigrams, if set) of the blocks; also returns tokens per block.

    A token is a run of word characters, except that a ``solo`` character (Han,
    kana) is a token by itself."""
    size = len(folded)
    padded = np.zeros(size + 2, dtype=np.int8)
    padded[1:-1] = word
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # a token starts at every other change, ends at the next
    token_starts, token_ends = edges[0::2], edges[1::2]
    if solo.any():
        # inside runs, also cut before and after every solo character
        cut = np.zeros(size + 1, dtype=np.bool_)
        cut[1:-1] = word[1:] & word[:-1] & (solo[1:] | solo[:-1])
        cuts = np.flatnonzero(cut)
        token_starts = np.sort(np.concatenate((token_starts, cuts)))
        token_ends = np.sort(np.concatenate((token_ends, cuts)))
    # Polynomial hash of every token at once: prefix sums of c[j] * P**j, then
    # (H[end] - H[start]) * P**-start is the same for a token wherever it stands
    # (and sums only the token's own characters).
    up, down = _powers()
    total = np.zeros(size + 1, dtype=np.uint64)
    np.cumsum(folded * up[:size], dtype=np.uint64, out=total[1:])
    token_hash = (total[token_ends] - total[token_starts]) * down[token_starts]
    block_tokens = np.searchsorted(token_starts, starts)
    n_tokens = np.searchsorted(token_starts, ends) - block_tokens
    rows = []
    count = np.zeros(len(starts), dtype=np.int64)
    if 1 in settings.word_ngrams:
        rows.append(_mix(token_hash, 101, settings.hash_bits))
        count += n_tokens
    if 2 in settings.word_ngrams:
        pairs = np.full(len(token_hash), settings.n_hashed, dtype=np.int64)
        if len(token_hash) > 1:
            token_block = np.searchsorted(starts, token_starts, side="right") - 1
            same_block = token_block[:-1] == token_block[1:]
            mixed = _mix(token_hash[:-1] * np.uint64(0x94D049BB133111EB) + token_hash[1:], 102, settings.hash_bits)
            np.putmask(pairs[:-1], same_block, mixed)
        rows.append(pairs)
        count += np.maximum(n_tokens - 1, 0)
    scale = 1.0 / np.sqrt(np.maximum(count, 1))
    return HashedGroup(_stack(rows, len(token_hash)), block_tokens, scale, empty=n_tokens == 0), n_tokens


# Per character, the class bits that shape features count, each in a 16-bit lane
# of one integer: a single sum per block counts all of them at once. Blocks are at
# most MAX_BLOCK_CHARS < 2**16 characters, so a lane never overflows into the next.
_COUNTED = (_LETTER, _UPPER, _DIGIT, _CURRENCY)
_LANES = np.array(
    [sum(1 << (16 * lane) for lane, flag in enumerate(_COUNTED) if byte & flag) for byte in range(256)],
    dtype=np.uint64,
)


# shape features of a block's first and last characters, looked up by their class bits
_FIRST_FEATURES = np.array(
    [[(byte & _UPPER) > 0, (byte & (_DIGIT | _CURRENCY)) > 0] for byte in range(256)], dtype=np.float64
)
_LAST_FEATURES = np.array([(byte & _TERMINAL) > 0 for byte in range(256)], dtype=np.float64)


def _shape(
    bits: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.intp],
    lengths: npt.NDArray[np.intp],
    true_lengths: npt.NDArray[np.intp],
    n_tokens: npt.NDArray[np.intp],
) -> npt.NDArray[np.float64]:
    # segments are never empty, and the spaces between blocks carry none of the bits
    packed = np.add.reduceat(_LANES.take(bits), starts)
    # the lanes of a little-endian uint64 are its four uint16s, in order
    counts = packed.astype("<u8", copy=False).view("<u2").reshape(-1, 4).astype(np.float64)
    letters, upper, currency = counts[:, 0], counts[:, 1], counts[:, 3]
    length = lengths.astype(np.float64)
    shape = np.empty((len(starts), len(SHAPE_FEATURES)))
    np.minimum(np.log1p(true_lengths), LOG_LENGTH_CAP, out=shape[:, 0])
    np.minimum(np.log1p(n_tokens), LOG_TOKENS_CAP, out=shape[:, 1])
    np.divide(counts[:, 2:], length[:, None], out=shape[:, 2:4])  # digit and currency shares
    shape[:, 4] = currency > 0
    np.divide(upper, np.maximum(letters, 1.0), out=shape[:, 5])
    np.divide(letters, length, out=shape[:, 6])
    shape[:, 7] = _LAST_FEATURES.take(bits[starts + lengths - 1])
    shape[:, 8:10] = _FIRST_FEATURES.take(bits[starts], axis=0)
    shape[:, 10] = n_tokens <= 3
    return shape


def _inside(starts: npt.NDArray[np.intp], ends: npt.NDArray[np.intp], size: int) -> npt.NDArray[np.bool_]:
    """Which of ``size`` characters lie inside a block: runs of False and True
    repeated out (four times faster than a cumulative sum over the characters)."""
    bounds = np.empty(2 * len(starts) + 2, dtype=np.intp)
    bounds[0] = 0
    bounds[1:-1:2] = starts
    bounds[2:-1:2] = ends  # never a start: blocks are apart by at least a line break
    bounds[-1] = size
    runs = np.zeros(2 * len(starts) + 1, dtype=np.bool_)
    runs[1::2] = True
    return np.repeat(runs, bounds[1:] - bounds[:-1])


def _chunks(starts: npt.NDArray[np.intp], ends: npt.NDArray[np.intp]) -> list[tuple[int, int]]:
    """``(first, stop)`` block ranges whose text spans at most CHUNK_CHARS."""
    if ends[-1] - starts[0] <= CHUNK_CHARS:
        return [(0, len(starts))]  # the common case: a page of ordinary size
    chunks = []
    first = 0
    for block in range(1, len(starts) + 1):
        if block == len(starts) or ends[block] - starts[first] > CHUNK_CHARS:
            chunks.append((first, block))
            first = block
    return chunks


def page_features(
    text: str, spans: Sequence[tuple[int, int]] | npt.NDArray[np.intp], settings: FeatureSettings
) -> Iterator[PageChunk]:
    """Featurise the blocks ``spans`` of ``text`` (``(start, end)`` pairs, or an
    array of them), a bounded run of blocks at a time."""
    if len(spans) == 0:
        return
    fold, bits_table = _tables()
    bounds = np.asarray(spans, dtype=np.intp).reshape(-1, 2)
    all_starts, all_true_ends = bounds[:, 0], bounds[:, 1]
    all_ends = np.minimum(all_true_ends, all_starts + MAX_BLOCK_CHARS)
    for first, stop in _chunks(all_starts, all_ends):
        offset = int(all_starts[first])
        codes = _codes(text[offset : int(all_ends[stop - 1])])
        starts = all_starts[first:stop] - offset
        ends = all_ends[first:stop] - offset
        size = len(codes)
        folded = np.zeros(size + PAD_CHARS, dtype="<u2")  # little-endian on every platform, like the keys
        fold.take(codes, out=folded[:size], mode="clip")  # "clip": no bounds check, every code point is in range
        bits = bits_table.take(codes)
        inside = _inside(starts, ends, size + PAD_CHARS)
        lengths = ends - starts
        word = (bits & _WORD).view(np.bool_) & inside[:size]
        words, n_tokens = _word_group(folded[:size], word, (bits & _SOLO) > 0, starts, ends, settings)
        groups: tuple[HashedGroup, ...] = ()
        if settings.char_ngrams:
            groups += (_char_group(folded, inside, starts, lengths, settings),)
        groups += (words,) if settings.word_ngrams else ()
        shape = _shape(bits, starts, lengths, all_true_ends[first:stop] - all_starts[first:stop], n_tokens)
        yield PageChunk(first, groups, shape)


# neighbours whose first-pass probabilities the second pass sees, as block offsets
CONTEXT_OFFSETS = (-2, -1, 1, 2)
_CONTEXT_OFFSETS = np.array(CONTEXT_OFFSETS)
CONTEXT_WINDOW = 3  # blocks on each side averaged into the "surroundings" features


# blocks whose second-pass features are made at once: bounds the temporaries,
# which on a 50 MB page (500,000 blocks) would otherwise not fit in any cache
CONTEXT_ROWS = 1 << 13


def context_features(
    probs: npt.NDArray[np.float64],
    shape: npt.NDArray[np.float64],
    page_first: npt.NDArray[np.intp] | None = None,
    page_stop: npt.NDArray[np.intp] | None = None,
) -> Iterator[tuple[slice, npt.NDArray[np.float64]]]:
    """Second-pass features of each block, CONTEXT_ROWS blocks at a time: its own
    first-pass probabilities and those of its neighbours, because "€4.99" or
    "12 months" alone is ambiguous and the price card around it is not.

    Blocks of several pages may come together: ``page_first[i]`` and
    ``page_stop[i]`` bound the blocks of block ``i``'s page (default: one page).
    Yields each run of blocks (a slice) with its features.
    """
    n, n_labels = probs.shape
    first_all = np.zeros(n, dtype=np.intp) if page_first is None else page_first
    stop_all = np.full(n, n, dtype=np.intp) if page_stop is None else page_stop
    # row n of the padded arrays is the zero "no neighbour" row (filled in place:
    # vstack and append cost more than the copy itself on a page of 50 blocks)
    padded_probs = np.empty((n + 1, n_labels))
    padded_probs[:n] = probs
    padded_probs[n] = 0.0
    log_length = np.empty(n + 1)
    log_length[:n] = shape[:, SHAPE_FEATURES.index("log_length")]
    log_length[n] = 0.0
    total = np.empty((n + 1, n_labels))  # total[i]: sum of the probabilities of blocks before i
    total[0] = 0.0
    np.cumsum(probs, axis=0, out=total[1:])
    adjacent = [CONTEXT_OFFSETS.index(-1), CONTEXT_OFFSETS.index(1)]
    width = n_context_features(n_labels)
    for begin in range(0, n, CONTEXT_ROWS):
        rows = slice(begin, min(begin + CONTEXT_ROWS, n))
        index = np.arange(rows.start, rows.stop)
        first, stop = first_all[rows], stop_all[rows]
        others = index[:, None] + _CONTEXT_OFFSETS
        others = np.where((others >= first[:, None]) & (others < stop[:, None]), others, n)
        low = np.maximum(index - CONTEXT_WINDOW, first)
        high = np.minimum(index + CONTEXT_WINDOW + 1, stop)
        # mean probabilities over ranges of the page, all at once: the blocks around
        # (self excluded), those just before, just after, all before and all after:
        # where the story ends and the boilerplate begins
        after = index + 1
        lows = np.array((low, low, after, first, after))
        highs = np.array((high, index, high, index, stop))
        sums = total[highs] - total[lows]
        sums[0] -= probs[rows]
        counts = highs - lows
        counts[0] -= 1
        means = sums / np.maximum(counts, 1)[:, :, None]
        features = np.empty((len(index), width))
        a = n_labels
        b = a + len(CONTEXT_OFFSETS) * n_labels
        c = b + len(means) * n_labels
        d = c + shape.shape[1]
        features[:, :a] = np.log(np.maximum(probs[rows], 1e-6))
        features[:, a:b] = padded_probs[others].reshape(len(index), -1)
        features[:, b:c] = means.transpose(1, 0, 2).reshape(len(index), -1)
        features[:, c:d] = shape[rows]
        features[:, d:] = log_length[others[:, adjacent]]
        yield rows, features


def n_context_features(n_labels: int) -> int:
    """Number of columns ``context_features`` gives for a model of ``n_labels`` labels."""
    return n_labels * (len(CONTEXT_OFFSETS) + 6) + len(SHAPE_FEATURES) + 2
