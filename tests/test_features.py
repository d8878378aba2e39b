from __future__ import annotations

import numpy as np
import pytest

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

    assert chunk.groups[0].index[:, :4].tolist() == [[189362, 103911, 7442, 84739]]
    assert chunk.groups[1].index.tolist() == [[18114, 22838, 32292, 225948]]


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
