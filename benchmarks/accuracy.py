"""Accuracy of paysift against two baselines, on the same lines, in one run.

    python benchmarks/accuracy.py                 # full: grid search, baselines' CV, ablation
    python benchmarks/accuracy.py --quick         # CI: the shipped C, no ablation
    python benchmarks/accuracy.py --data ../shared/realworld/visible.jsonl

1. Leave-publisher-out cross-validation over training_data/ (a publisher is never
   on both sides of a fold), exactly as the trainer does it.
2. Each ``--data`` set (training-format pages or JSON Lines of labeled blocks): each
   page's whole text goes through ``classify()`` and each labeled line is scored by
   the block that covers it, so segmentation is measured too. Lines labeled
   ``other`` count only in "junk recall"; ``null`` lines are skipped.

Baselines: a C4 / FineWeb-style keyword filter and scikit-learn's HashingVectorizer
with LogisticRegression, trained on the same pages (see baselines.py).

Results go to benchmarks/results/latest.json (key "accuracy"); ``--check`` fails
when a floor of benchmarks/floors.json is broken.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import numpy as np
from baselines import KeywordFilter, SklearnBaseline
from results import check_floors, write_results

from paysift import classify, default_model
from paysift.corpus import Page, load_any, load_pages
from paysift.evaluate import ARTICLE, ScoredLine, format_report, page_predictions, score
from paysift.features import FeatureSettings
from paysift.train import (
    C_GRID,
    FOLDS,
    Dataset,
    Progress,
    _article_bias,
    _first_pass_matrix,
    _folds,
    _standardise,
    _with_bias,
    best_run,
    build_dataset,
    cross_validate,
)

SUMMARY_KEYS = ("lines", "macro_f1", "article_recall", "boilerplate_recall", "junk_recall", "accuracy")


def _lines(data: Dataset, predicted: np.ndarray, labels: Sequence[str]) -> list[ScoredLine]:
    return [
        ScoredLine(labels[gold], labels[guess], publisher, lang)
        for gold, guess, publisher, lang in zip(data.y.tolist(), predicted.tolist(), data.publishers, data.langs)
    ]


def paysift_cv(
    pages: Sequence[Page], labels: Sequence[str], settings: FeatureSettings, c_grid: Sequence[float],
    n_folds: int, progress: Progress,
) -> tuple[Dataset, list, dict[str, list[ScoredLine]]]:
    """Out-of-fold predictions with the trainer's own procedure: the first pass
    alone (with the article bias that gives it the target article recall), both
    passes without the bias, and both passes with it (what ships)."""
    data = build_dataset(pages, labels, settings)
    mean, scale = _standardise(data.shape)
    x1 = _first_pass_matrix(data, mean, scale)
    folds = _folds(data, n_folds)
    runs = cross_validate(data, x1, folds, c_grid, labels, 2, progress)
    best = best_run(runs)
    article = labels.index(ARTICLE)
    first_bias = _article_bias(best.first, data.y, article)
    predictions = {
        "first pass only (no context)": _with_bias(best.first, article, first_bias).argmax(axis=1),
        "both passes, no article bias": best.second.argmax(axis=1),
        "paysift (as shipped)": _with_bias(best.second, article, best.bias).argmax(axis=1),
    }
    return data, folds, {name: _lines(data, predicted, labels) for name, predicted in predictions.items()}


def baseline_cv(pages: Sequence[Page], data: Dataset, folds: list, labels: Sequence[str]) -> dict[str, list[ScoredLine]]:
    """Both baselines on the very blocks and folds paysift was scored on."""
    blocks = [page.text[a:b] for page in pages for a, b in page.block_labels()[0]]
    keyword = np.array([labels.index(KeywordFilter.label(block)) for block in blocks])
    baseline = SklearnBaseline(labels)
    x = baseline.features(blocks)
    predicted = np.zeros(len(blocks), dtype=int)
    for train, test in folds:
        from sklearn.linear_model import LogisticRegression

        classifier = LogisticRegression(C=baseline.c, max_iter=2000, tol=1e-4).fit(x[train], data.y[train])
        predicted[test] = classifier.classes_[classifier.predict_proba(x[test]).argmax(axis=1)]
    return {KeywordFilter.name: _lines(data, keyword, labels), SklearnBaseline.name: _lines(data, predicted, labels)}


def external(path: str, classifiers: dict[str, Callable[[str], Sequence[Any]]]) -> dict[str, list[ScoredLine]]:
    pages = load_any([path])
    return {name: [line for page in pages for line in page_predictions(page, run)] for name, run in classifiers.items()}


def ablation(pages: Sequence[Page], labels: Sequence[str], c: float, n_folds: int, progress: Progress) -> list[dict]:
    """What each feature group buys: cross-validated scores without it."""
    variants = {
        "all features (shipped settings)": FeatureSettings(),
        "no character n-grams": FeatureSettings(char_ngrams=()),
        "no word n-grams": FeatureSettings(word_ngrams=()),
        "char 3+4+5-grams, word bigrams": FeatureSettings(char_ngrams=(3, 4, 5), word_ngrams=(1, 2)),
        "2^16 hash buckets": FeatureSettings(hash_bits=16),
    }
    rows = []
    for name, settings in variants.items():
        started = time.perf_counter()
        _, _, lines = paysift_cv(pages, labels, settings, (c,), n_folds, progress)
        for variant, scored in lines.items():
            if variant == "both passes, no article bias":
                continue
            report = score(scored, labels)
            rows.append({"features": name, "passes": variant, **{k: report[k] for k in SUMMARY_KEYS}})
        progress(f"ablation {name}: {time.perf_counter() - started:.0f}s")
    return rows


def _summaries(lines: dict[str, list[ScoredLine]], labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {name: score(scored, labels) for name, scored in lines.items()}


def _table(title: str, reports: dict[str, dict[str, Any]]) -> str:
    out = [title, f"{'method':<32}{'lines':>7}{'macro-F1':>10}{'art.rec':>9}{'boil.rec':>10}{'junk.rec':>10}"]

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for name, report in reports.items():
        out.append(f"{name:<32}{report['lines']:>7}{fmt(report['macro_f1']):>10}{fmt(report['article_recall']):>9}"
                   f"{fmt(report['boilerplate_recall']):>10}{fmt(report['junk_recall']):>10}")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the shipped model's C only; no baseline CV, no ablation")
    parser.add_argument("--data", action="append", default=[], metavar="PATH", help="an external labeled set (repeatable)")
    parser.add_argument("--corpus", default=str(REPO / "training_data"), help="training pages (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a floor of benchmarks/floors.json is broken")
    parser.add_argument("--verbose", action="store_true", help="print full reports and progress")
    args = parser.parse_args(argv)
    progress = Progress(quiet=not args.verbose)
    started = time.perf_counter()
    model = default_model()
    labels = model.labels
    settings = model.settings
    pages = load_pages([args.corpus], labels=labels)
    c_grid = (model.manifest["hyperparameters"]["first_pass_C"],) if args.quick else C_GRID

    data, folds, cv_lines = paysift_cv(pages, labels, settings, c_grid, FOLDS, progress)
    if not args.quick:
        cv_lines.update(baseline_cv(pages, data, folds, labels))
    cv = _summaries(cv_lines, labels)
    print(_table(f"Leave-publisher-out cross-validation ({len(pages)} pages, {len(folds)} folds)", cv))
    if args.verbose:
        print(format_report(cv["paysift (as shipped)"], "paysift, cross-validated"))
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "corpus": {"pages": len(pages), "publishers": len({p.publisher for p in pages}), "blocks": len(data.y)},
        "cross_validation": cv,
    }

    if args.data:
        baseline = SklearnBaseline(labels).fit(pages)
        classifiers = {
            "paysift (as shipped)": lambda text: classify(text, model=model),
            KeywordFilter.name: KeywordFilter().classify,
            SklearnBaseline.name: baseline.classify,
        }
        results["external"] = {}
        for path in args.data:
            reports = _summaries(external(path, classifiers), labels)
            results["external"][Path(path).name] = reports
            print(_table(f"External set {path}", reports))
            if args.verbose:
                print(format_report(reports["paysift (as shipped)"], f"paysift on {path}"))
    if not args.quick:
        results["ablation"] = ablation(pages, labels, c_grid[0] if len(c_grid) == 1 else
                                       model.manifest["hyperparameters"]["first_pass_C"], FOLDS, progress)
        for row in results["ablation"]:
            print(f"  {row['features']:<34}{row['passes']:<30} macro-F1 {row['macro_f1']:.3f}  "
                  f"article recall {row['article_recall']:.3f}")
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_results("accuracy", results)
    print(f"accuracy benchmark took {results['seconds']}s")
    return check_floors("accuracy", results) if args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
