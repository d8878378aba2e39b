from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysift import default_model, features
from paysift.features import (
    FeatureSettings,
    context_features,
    n_context_features,
    page_features,
)
from paysift.segment import split_paragraphs

SETTINGS = FeatureSettings()


def _groups(text: str):
    (chunk,) = page_features(text, split_paragraphs(text), SETTINGS)
    return chunk


def test_hash_buckets_are_stable_across_runs_and_platforms():
    # The shipped model's weights are indexed by these buckets: if hashing ever
    # changes, every model must be retrained. This pins it.
    chunk = _groups("Subscribe now\n₹2,700")

    assert chunk.groups[0].index[:, :4].tolist() == [[149312, 174603, 147963, 136133]]
    assert chunk.groups[1].index.tolist() == [[18114, 22838, 32292, 225948]]


def test_han_and_kana_characters_are_words_of_their_own():
    # Japanese writes no spaces: without this a whole sentence would be one token
    japanese = _groups("会員限定記事です。Premium会員")
    (shape,) = _groups("有料会員").shape
    words = japanese.groups[1].index[0]
    tokens = words[words < SETTINGS.n_hashed]

    assert len(tokens) == 8 + 1 + 2  # 会員限定記事です, "premium", 会員
    assert (tokens[0], tokens[1]) == (tokens[-2], tokens[-1]) and tokens[0] != tokens[1]  # 会 and 員, twice
    assert shape[features.SHAPE_FEATURES.index("log_tokens")] == pytest.approx(np.log1p(4))


def test_arabic_and_japanese_sentence_ends_count_as_ends():
    for sentence in ("ارتفعت الأسعار هذا الشهر.", "هل ترتفع الأسعار؟", "価格が上がった。", "本当ですか？"):
        (shape,) = _groups(sentence).shape
        assert shape[features.SHAPE_FEATURES.index("ends_terminal")] == 1.0


def test_digits_and_case_are_folded_before_hashing():
    one, other = _groups("₹2,700 A MONTH"), _groups("₹3,900 a month")

    assert np.array_equal(one.groups[0].index, other.groups[0].index)
    assert np.array_equal(one.groups[1].index, other.groups[1].index)


def test_ngrams_never_cross_block_boundaries():
    settings = FeatureSettings(char_ngrams=(3, 4, 5), word_ngrams=(1, 2))
    (chunk,) = page_features("ab\ncd", split_paragraphs("ab\ncd"), settings)

    # blocks of two characters have no 3-, 4- or 5-grams at all
    assert (chunk.groups[0].index == settings.n_hashed).all()
    assert chunk.groups[1].index[1].tolist() == [settings.n_hashed, settings.n_hashed]  # no bigram "ab cd"


def test_chunked_featurisation_gives_the_same_probabilities(monkeypatch):
    text = "\n".join(f"Paragraph {i} of the story, with some words in it." for i in range(300))
    spans = split_paragraphs(text)
    whole = default_model().predict_proba(text, spans)

    monkeypatch.setattr(features, "CHUNK_CHARS", 500)
    chunked = default_model().predict_proba(text, spans)

    assert len(list(page_features(text, spans, SETTINGS))) > 10
    np.testing.assert_allclose(chunked, whole, atol=1e-9)


def test_a_huge_block_is_featurised_from_its_start_only():
    prefix = "word " * (features.MAX_BLOCK_CHARS // 5)
    text = prefix + "tail " * 200_000

    (chunk,) = page_features(text, split_paragraphs(text), SETTINGS)

    assert chunk.groups[0].index.shape[1] == features.MAX_BLOCK_CHARS
    assert chunk.shape[0, features.SHAPE_FEATURES.index("log_length")] == features.LOG_LENGTH_CAP


def test_context_features_have_the_documented_width():
    probs = np.full((5, 4), 0.25)
    shape = np.zeros((5, len(features.SHAPE_FEATURES)))

    ((rows, matrix),) = context_features(probs, shape)

    assert rows == slice(0, 5) and matrix.shape == (5, n_context_features(4))


def test_context_never_crosses_pages_and_does_not_depend_on_the_run_size(monkeypatch):
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(4), size=30)
    shape = rng.normal(size=(30, len(features.SHAPE_FEATURES)))
    first = np.repeat([0, 12], [12, 18])
    stop = np.repeat([12, 30], [12, 18])

    together = np.vstack([m for _, m in context_features(probs, shape, first, stop)])
    apart = np.vstack([m for a, b in ((0, 12), (12, 30)) for _, m in context_features(probs[a:b], shape[a:b])])
    monkeypatch.setattr(features, "CONTEXT_ROWS", 7)
    in_runs = np.vstack([m for _, m in context_features(probs, shape, first, stop)])

    np.testing.assert_allclose(together, apart, atol=1e-12)
    np.testing.assert_array_equal(in_runs, together)


@pytest.mark.parametrize("text", ["\ud800 lone surrogate", "NUL\x00byte", "emoji 🙂🙂 and 漢字", "مرحبا بالعالم"])
def test_any_code_point_is_featurised(text):
    chunk = _groups(text)

    assert np.isfinite(chunk.shape).all()


def _reference_char_buckets(text: str, n: int, bits: int) -> list[list[int]]:
    """Character n-gram buckets of each block, one n-gram at a time in plain
    Python integers: what the vectorised hashing must reproduce."""
    fold, _ = features._tables()
    mask = (1 << 64) - 1
    multiplier = (features._GOLDEN * (2 * n + 1)) & mask

    def key(chars: list[int]) -> int:
        return sum(char << (16 * i) for i, char in enumerate(chars))

    buckets = []
    for start, end in split_paragraphs(text):
        folded = [int(fold[ord(char)]) for char in text[start:end]]
        block = []
        for i in range(len(folded) - n + 1):
            gram = folded[i : i + n]
            value = key(gram[:4]) if n <= 4 else (key(gram[:4]) * int(features._P) + key(gram[4:])) & mask
            block.append(((value * multiplier) & mask) >> (64 - bits))
        buckets.append(block)
    return buckets


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab É1 .\n\r\u2028€🙂\U0001f600漢"), max_size=60),
    n=st.integers(min_value=1, max_value=8),
)
def test_character_ngrams_match_a_plain_python_reference(text, n):
    config = FeatureSettings(hash_bits=12, char_ngrams=(n,), word_ngrams=(1,))
    spans = split_paragraphs(text)
    expected = _reference_char_buckets(text, n, config.hash_bits)
    got: list[list[int]] = []
    for chunk in page_features(text, spans, config):
        group = chunk.groups[0]
        bounds = [*group.segments.tolist(), group.index.shape[1]]
        for a, b in pairwise(bounds):
            got.append([bucket for bucket in group.index[0, a:b].tolist() if bucket != config.n_hashed])

    assert got == expected


def test_characters_beyond_the_bmp_keep_distinct_features():
    one, other = _groups("🙂🙂🙂🙂"), _groups("😀😀😀😀")

    assert not np.array_equal(one.groups[0].index, other.groups[0].index)
