"""The shipped corpus and model: the promises of training_data/DATA_CARD.md, checked."""

from __future__ import annotations

import json

import pytest
from conftest import REPO

from paysift.corpus import corpus_stats, load_jsonl_pages, load_pages
from paysift.model import MANIFEST_FILE, default_model_dir
from paysift.types import DEFAULT_LABELS
from paysift.variety import near_duplicate_shares, near_duplicates

CORPUS = REPO / "training_data"


@pytest.fixture(scope="module")
def pages():
    return load_pages([CORPUS], labels=DEFAULT_LABELS)


def test_corpus_is_as_large_and_varied_as_promised(pages):
    stats = corpus_stats(pages)
    languages = stats["languages"]

    assert stats["pages"] >= 300 and stats["publishers"] >= 100
    assert languages["en"] * 2 >= stats["pages"]
    assert min(languages[lang] for lang in ("de", "fr", "es")) >= 30
    assert min(languages[lang] for lang in ("it", "pt", "nl")) >= 15
    assert min(languages[lang] for lang in ("el", "uk", "bg", "ru", "sr", "mk")) >= 30  # Greek and Cyrillic
    assert min(languages[lang] for lang in ("ar", "ja")) >= 80  # Arabic and Japanese script
    blocks = stats["blocks"]
    assert blocks["article"] >= 4000 and blocks["paywall"] >= 1000
    assert blocks["pricing"] >= 800 and blocks["disclaimer"] >= 500
    assert stats["hard_by_label"]["article"] >= 400


def test_publishers_do_not_share_sentences(pages):
    shares = near_duplicate_shares(pages)

    assert shares["article"]["share"] < 0.03
    assert all(shares[label]["share"] < 0.15 for label in ("paywall", "pricing", "disclaimer"))


def test_no_block_is_a_near_copy_of_the_real_world_evaluation_pages(pages, shared_dir):
    """Sentences of 12 words or more sharing most of their word 3-grams with a real
    page are not a coincidence. Shorter stock lines ("Already a subscriber? Sign in")
    are common to many sites and are allowed."""
    real = load_jsonl_pages(shared_dir / "realworld" / "visible.jsonl")

    copies = near_duplicates(pages, reference=real, min_words=12)

    assert copies == []


def test_shipped_model_was_trained_on_this_corpus():
    manifest = json.loads((default_model_dir() / MANIFEST_FILE).read_text(encoding="utf-8"))
    from paysift.train import data_digest

    assert manifest["training_data"]["digest"] == data_digest([CORPUS])
