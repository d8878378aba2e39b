"""Retraining with a few pages of a new publisher helps on that publisher's other
pages: the loop of README's "Adding a publisher", measured on a publisher held out
of the corpus.

Run it alone, with the shipped settings, to see the figures:
    PAYSIFT_FULL_SETTINGS=1 python -m pytest -s tests/test_adding_a_publisher.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import REPO

pytest.importorskip("sklearn")

from paysift import load_model  # noqa: E402
from paysift.corpus import load_pages  # noqa: E402
from paysift.evaluate import evaluate_pages  # noqa: E402
from paysift.features import FeatureSettings  # noqa: E402
from paysift.train import train  # noqa: E402

# a publisher with seven pages, in a language with few pages in the corpus
PUBLISHER = "dziennik-stoleczny"
ADDED_PAGES = 3


def _train(folders: list[Path], out: Path) -> None:
    if os.environ.get("PAYSIFT_FULL_SETTINGS"):
        train(folders, out, quiet=True)
    else:  # smaller and quicker, same procedure
        train(folders, out, settings=FeatureSettings(hash_bits=16), c_grid=(30.0,), n_folds=3, quiet=True)


@pytest.mark.slow
def test_adding_three_pages_of_a_publisher_does_not_hurt_and_helps_it(tmp_path):
    corpus = shutil.copytree(REPO / "training_data", tmp_path / "corpus", ignore=shutil.ignore_patterns(PUBLISHER))
    pages = sorted((REPO / "training_data" / PUBLISHER).glob("*.txt"))
    added, held_out = pages[:ADDED_PAGES], pages[ADDED_PAGES:]
    mine = tmp_path / "mine"
    mine.mkdir()
    for page in added:
        shutil.copy(page, mine / page.name)
    evaluation = load_pages(held_out)

    _train([corpus], tmp_path / "without")
    before = evaluate_pages(evaluation, load_model(tmp_path / "without"))
    _train([corpus, mine], tmp_path / "with")
    after = evaluate_pages(evaluation, load_model(tmp_path / "with"))

    print(f"\n{PUBLISHER}: {len(held_out)} held-out pages, {before['lines']} lines")
    for key in ("accuracy", "macro_f1", "article_recall", "boilerplate_recall"):
        print(f"  {key:<20} without its pages {before[key]:.3f}   with {ADDED_PAGES} of them {after[key]:.3f}")
    assert after["accuracy"] >= before["accuracy"]
    assert after["article_recall"] >= before["article_recall"]
    if before["accuracy"] < 1.0:
        assert after["accuracy"] > before["accuracy"]
