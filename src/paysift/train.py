"""Train a model on labeled pages: ``paysift train DIR... --out models/NAME``, or
``python -m paysift.train`` in a scheduled job. The only module that imports
scikit-learn.

Two logistic regressions, both chosen and scored by leave-publisher-out
cross-validation (a publisher is never on both sides of a fold):

1. first pass: hashed n-grams + shape features -> label probabilities;
2. second pass: a block's first-pass probabilities with its neighbours' ->
   final probabilities. It is trained on out-of-fold first-pass probabilities,
   which are as unsure as those the model will give on a publisher it never saw.

Then the article logit is raised by the smallest bias that brings
cross-validated article recall to ARTICLE_RECALL_TARGET: losing a story
paragraph is the worst error a user meets. Same data and settings give
byte-identical weights.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from . import __version__
from .corpus import Page, load_pages, page_files
from .errors import PaysiftError
from .evaluate import ARTICLE, ScoredLine, score
from .features import CONTEXT_OFFSETS, CONTEXT_WINDOW, SHAPE_FEATURES, FeatureSettings, context_features, page_features
from .model import save_model
from .types import DEFAULT_LABELS

C_GRID = (10.0, 30.0)  # first-pass inverse regularisation strengths tried, in this order (warm starts)
CONTEXT_C = 1.0  # second pass: few dense features, little to regularise
ALONE_WEIGHT = 0.2  # weight of the second pass's "block alone" copies (see _context)
FOLDS = 5
ARTICLE_RECALL_TARGET = 0.995
BIAS_GRID = tuple(round(0.02 * step, 2) for step in range(251))  # article logit bias tried, in nats
MAX_ITER = 2000
TOLERANCE = 1e-4  # of L-BFGS; 1e-5 took twice as long for the same cross-validated scores
# a label absent from a fold's training data gets this logit: probability ~0
ABSENT_LOGIT = -30.0


@dataclass(frozen=True)
class Dataset:
    """Blocks of all training pages in page order, ready for scikit-learn."""

    hashed: Any  # scipy.sparse.csr_matrix, blocks x hashed buckets
    shape: npt.NDArray[np.float64]
    y: npt.NDArray[np.intp]
    groups: npt.NDArray[np.intp]  # publisher id of each block
    page_bounds: npt.NDArray[np.intp]  # blocks of page i: page_bounds[i] up to page_bounds[i + 1]
    publishers: tuple[str, ...]  # of each block
    langs: tuple[str, ...]  # of each block


class Progress:
    """Prints what the trainer is doing, and for how long, unless quiet."""

    def __init__(self, quiet: bool, stream: TextIO = sys.stderr) -> None:
        self.quiet = quiet
        self.stream = stream
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.started:6.1f}s] {message}", file=self.stream, flush=True)


def build_dataset(pages: Sequence[Page], labels: Sequence[str], settings: FeatureSettings) -> Dataset:
    """Featurise every block of ``pages`` with the code inference uses."""
    from scipy import sparse

    index = {label: k for k, label in enumerate(labels)}
    publisher_ids: dict[str, int] = {}
    rows: list[npt.NDArray[np.intp]] = []
    cols: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float64]] = []
    shapes: list[npt.NDArray[np.float64]] = []
    y: list[int] = []
    groups: list[int] = []
    bounds = [0]
    publishers: list[str] = []
    langs: list[str] = []
    offset = 0
    for page in pages:
        spans, gold = page.block_labels()
        for chunk in page_features(page.text, spans, settings):
            base = offset + chunk.first_block
            for group in chunk.groups:
                kinds, items = group.index.shape
                block_of_item = np.repeat(np.arange(len(group.segments)), np.diff(np.append(group.segments, items)))
                for kind in range(kinds):
                    keep = group.index[kind] != settings.n_hashed
                    rows.append(base + block_of_item[keep])
                    cols.append(group.index[kind][keep])
                    values.append(group.scale[block_of_item[keep]])
            shapes.append(chunk.shape)
        publisher = publisher_ids.setdefault(page.publisher, len(publisher_ids))
        y.extend(index[label] for label in gold if label is not None)
        groups.extend([publisher] * len(spans))
        publishers.extend([page.publisher] * len(spans))
        langs.extend([page.lang] * len(spans))
        offset += len(spans)
        bounds.append(offset)
    hashed = sparse.coo_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(offset, settings.n_hashed)
    ).tocsr()  # duplicate (row, bucket) pairs are summed
    hashed.sort_indices()
    return Dataset(
        hashed, np.vstack(shapes), np.array(y), np.array(groups), np.array(bounds), tuple(publishers), tuple(langs)
    )


def _standardise(matrix: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    mean = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    return mean, np.where(scale > 1e-9, scale, 1.0)


@dataclass(frozen=True)
class LinearFit:
    """Weights of one logistic regression over all labels, absent ones included."""

    coef: npt.NDArray[np.float64]  # labels x features
    intercept: npt.NDArray[np.float64]

    def log_proba(self, x: Any) -> npt.NDArray[np.float64]:
        logits: npt.NDArray[np.float64] = np.asarray(x @ self.coef.T) + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        log_probs: npt.NDArray[np.float64] = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return log_probs


def _fit(
    x: Any, y: npt.NDArray[np.intp], cs: Sequence[float], n_labels: int, weights: npt.NDArray[np.float64] | None = None
) -> list[LinearFit]:
    """One fit per C, in the order given, each starting from the last one's
    weights (a warm start takes a fraction of the iterations of a cold one)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    classifier = LogisticRegression(max_iter=MAX_ITER, tol=TOLERANCE, warm_start=True)
    fits = []
    for c in cs:
        classifier.set_params(C=c)
        # one BLAS thread: floating-point sums in a fixed order, so weights are byte-identical
        with threadpool_limits(1):
            classifier.fit(x, y, sample_weight=weights)
        fits.append(_full_fit(classifier, x.shape[1], n_labels))
    return fits


def _full_fit(classifier: Any, n_features: int, n_labels: int) -> LinearFit:
    """The classifier's weights with a row for every label, absent ones included."""
    classes = classifier.classes_
    coef = np.zeros((n_labels, n_features))
    intercept = np.full(n_labels, ABSENT_LOGIT)
    if len(classes) == 1:
        intercept[classes[0]] = 0.0
    elif len(classes) == 2:
        # scikit-learn keeps one weight vector for two classes: softmax of -z/2, z/2 is sigmoid(z)
        coef[classes[0]], coef[classes[1]] = -classifier.coef_[0] / 2, classifier.coef_[0] / 2
        intercept[classes[0]], intercept[classes[1]] = -classifier.intercept_[0] / 2, classifier.intercept_[0] / 2
    else:
        coef[classes] = classifier.coef_
        intercept[classes] = classifier.intercept_
    return LinearFit(coef, intercept)


def _first_pass_matrix(data: Dataset, mean: npt.NDArray[np.float64], scale: npt.NDArray[np.float64]) -> Any:
    from scipy import sparse

    return sparse.hstack((data.hashed, sparse.csr_matrix((data.shape - mean) / scale)), format="csr")


def _context(data: Dataset, log_probs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Second-pass features of every block twice: in its page, then alone, as if
    its page held nothing else. Pages in the corpus have eight lines or more; the
    second copy teaches the second pass to trust a block's own probabilities when
    a page is a line or two (without it, a lone "£1 for 3 months" came out article)."""
    probs = np.exp(log_probs)
    bounds = data.page_bounds
    index = np.arange(len(probs))
    in_page = (np.repeat(bounds[:-1], np.diff(bounds)), np.repeat(bounds[1:], np.diff(bounds)))
    return np.vstack(
        [features for first, stop in (in_page, (index, index + 1))
         for _, features in context_features(probs, data.shape, first, stop)]
    )


def _alone_weights(n: int) -> npt.NDArray[np.float64]:
    """Sample weights of the second pass's rows: blocks in their pages, then alone."""
    return np.concatenate((np.ones(n), np.full(n, ALONE_WEIGHT)))


def _folds(data: Dataset, n_folds: int) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    from sklearn.model_selection import GroupKFold

    n_publishers = len(set(data.groups.tolist()))
    if n_publishers < 2:
        raise PaysiftError(f"cross-validation needs pages of at least 2 publishers, got {n_publishers}")
    splitter = GroupKFold(n_splits=min(n_folds, n_publishers))
    return list(splitter.split(data.hashed, data.y, data.groups))


def _fold_log_proba(
    x: Any, y: npt.NDArray[np.intp], train: npt.NDArray[np.intp], test: npt.NDArray[np.intp],
    cs: Sequence[float], n_labels: int, weights: npt.NDArray[np.float64] | None = None,
) -> tuple[list[npt.NDArray[np.float64]], float]:
    started = time.perf_counter()
    fits = _fit(x[train], y[train], cs, n_labels, None if weights is None else weights[train])
    return [fit.log_proba(x[test]) for fit in fits], time.perf_counter() - started


def _out_of_fold(
    x: Any,
    y: npt.NDArray[np.intp],
    folds: Sequence[tuple[Any, Any]],
    cs: Sequence[float],
    n_labels: int,
    n_jobs: int,
    progress: Progress,
    what: str,
    weights: npt.NDArray[np.float64] | None = None,
) -> list[npt.NDArray[np.float64]]:
    """For each C, log-probabilities of every block from the model of the fold
    that left its publisher out."""
    from joblib import Parallel, delayed

    n_blocks = max(int(test.max()) + 1 for _, test in folds)
    log_probs = [np.zeros((n_blocks, n_labels)) for _ in cs]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fold_log_proba)(x, y, train, test, cs, n_labels, weights) for train, test in folds
    )
    for number, ((_, test), (fold_log_probs, seconds)) in enumerate(zip(folds, results), start=1):
        for target, fold_result in zip(log_probs, fold_log_probs):
            target[test] = fold_result
        progress(f"{what}: fold {number}/{len(folds)} took {seconds:.1f}s")
    return log_probs


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold log-probabilities of both passes for one first-pass C, and
    their scores with the article bias that gives the target article recall."""

    c: float
    first: npt.NDArray[np.float64]
    second: npt.NDArray[np.float64]  # before the article bias
    context: npt.NDArray[np.float64]  # standardised second-pass features of every block, in its page then alone
    context_mean: npt.NDArray[np.float64]
    context_scale: npt.NDArray[np.float64]
    bias: float
    report: dict[str, Any]  # of the second pass with the article bias: what would ship


def cross_validate(
    data: Dataset,
    x1: Any,
    folds: Sequence[tuple[Any, Any]],
    cs: Sequence[float],
    labels: Sequence[str],
    n_jobs: int,
    progress: Progress,
) -> list[CrossValidation]:
    """Leave-publisher-out predictions of both passes for each first-pass C,
    every block predicted by models that never saw its publisher."""
    article = labels.index(ARTICLE) if ARTICLE in labels else None
    runs = []
    firsts = _out_of_fold(x1, data.y, folds, cs, len(labels), n_jobs, progress, "first pass")
    n = len(data.y)
    y2 = np.concatenate((data.y, data.y))
    # the second pass trains on both copies of its training publishers' blocks and
    # is scored on the blocks in their pages
    folds2 = [(np.concatenate((train, train + n)), test) for train, test in folds]
    for c, first in zip(cs, firsts):
        context = _context(data, first)
        mean, scale = _standardise(context)
        x2 = (context - mean) / scale
        (second,) = _out_of_fold(
            x2, y2, folds2, (CONTEXT_C,), len(labels), 1, progress, f"C={c:g} second pass", _alone_weights(n)
        )
        bias = _article_bias(second, data.y, article)
        report = _report(data, _with_bias(second, article, bias), labels)
        progress(f"C={c:g}: with article bias {bias:g}, macro-F1 {report['macro_f1']}, "
                 f"article recall {report['article_recall']}")
        runs.append(CrossValidation(c, first, second, x2, mean, scale, bias, report))
    return runs


def best_run(runs: Sequence[CrossValidation]) -> CrossValidation:
    """The run to ship: best macro-F1 of what ships (the model with its article
    bias), the smaller C (more regularised) on a tie."""
    return max(runs, key=lambda run: (run.report["macro_f1"], -run.c))


def _with_bias(log_probs: npt.NDArray[np.float64], article: int | None, bias: float) -> npt.NDArray[np.float64]:
    shifted = log_probs.copy()
    if article is not None:
        shifted[:, article] += bias
    return shifted


def _article_bias(log_probs: npt.NDArray[np.float64], y: npt.NDArray[np.intp], article: int | None) -> float:
    """Smallest bias on the article logit giving the target article recall."""
    if article is None or not (y == article).any():
        return 0.0
    is_article = y == article
    for bias in BIAS_GRID:
        if (_with_bias(log_probs[is_article], article, bias).argmax(axis=1) == article).mean() >= ARTICLE_RECALL_TARGET:
            return bias
    return BIAS_GRID[-1]


def _report(data: Dataset, log_probs: npt.NDArray[np.float64], labels: Sequence[str]) -> dict[str, Any]:
    predicted = log_probs.argmax(axis=1)
    lines = [
        ScoredLine(labels[gold], labels[guess], publisher, lang)
        for gold, guess, publisher, lang in zip(data.y.tolist(), predicted.tolist(), data.publishers, data.langs)
    ]
    return score(lines, labels)


def data_digest(directories: Sequence[str | Path]) -> str:
    """sha256 over every page file's path (relative to its folder) and bytes."""
    digest = hashlib.sha256()
    for directory in directories:
        root = Path(directory)
        for path in page_files([root]):
            name = path.name if root.is_file() else path.relative_to(root).as_posix()
            digest.update(name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def train(
    directories: Sequence[str | Path],
    out: str | Path,
    *,
    labels: Sequence[str] = DEFAULT_LABELS,
    settings: FeatureSettings | None = None,
    c_grid: Sequence[float] = C_GRID,
    n_folds: int = FOLDS,
    n_jobs: int = 2,
    quiet: bool = False,
) -> dict[str, Any]:
    """Train on every page under ``directories`` and write the model to ``out``.

    Returns the manifest. Nothing is written if the data is bad or training fails.
    """
    from joblib import Parallel, delayed
    from sklearn import __version__ as sklearn_version

    settings = settings or FeatureSettings()
    progress = Progress(quiet)
    pages = load_pages(directories, labels=labels)
    present = {line.label for page in pages for line in page.lines if line.label is not None}
    labels = tuple(label for label in labels if label in present)
    if len(labels) < 2:
        raise PaysiftError(f"training needs at least two labels in the data, found {sorted(present)}")
    progress(f"read {len(pages)} pages from {len({p.publisher for p in pages})} publishers")
    data = build_dataset(pages, labels, settings)
    progress(f"featurised {len(data.y)} blocks into {data.hashed.nnz} hashed values")
    shape_mean, shape_scale = _standardise(data.shape)
    x1 = _first_pass_matrix(data, shape_mean, shape_scale)
    folds = _folds(data, n_folds)
    tried = cross_validate(data, x1, folds, c_grid, labels, n_jobs, progress)
    best = best_run(tried)
    report = best.report
    progress(f"chosen C={best.c:g}, article bias {best.bias:g}: macro-F1 {report['macro_f1']}, "
             f"article recall {report['article_recall']}, boilerplate recall {report['boilerplate_recall']}")
    (final_first,), (final_second,) = Parallel(n_jobs=n_jobs)(
        delayed(_fit)(x, y, (c,), len(labels), weights)
        for x, y, c, weights in (
            (x1, data.y, best.c, None),
            (best.context, np.concatenate((data.y, data.y)), CONTEXT_C, _alone_weights(len(data.y))),
        )
    )
    progress("fitted the final model on all pages")
    article = labels.index(ARTICLE) if ARTICLE in labels else None
    context_intercept = _with_bias(final_second.intercept[None, :], article, best.bias)[0]
    n_hashed = settings.n_hashed
    arrays = {
        "hashed": final_first.coef[:, :n_hashed].T.astype(np.float32),
        "shape": final_first.coef[:, n_hashed:].T.copy(),
        "shape_mean": shape_mean,
        "shape_scale": shape_scale,
        "intercept": final_first.intercept,
        "context": final_second.coef.T.copy(),
        "context_mean": best.context_mean,
        "context_scale": best.context_scale,
        "context_intercept": context_intercept,
    }
    blocks = Counter(labels[k] for k in data.y.tolist())
    manifest = {
        "paysift_version": __version__,
        "scikit_learn_version": sklearn_version,
        "labels": list(labels),
        "features": settings.to_json(),
        "shape_features": list(SHAPE_FEATURES),
        "context": {"offsets": list(CONTEXT_OFFSETS), "window": CONTEXT_WINDOW},
        "training_data": {
            "folders": [Path(d).name for d in directories],
            "digest": data_digest(directories),
            "pages": len(pages),
            "publishers": len(set(data.publishers)),
            "languages": dict(sorted(Counter(page.lang for page in pages).items())),
            "blocks": {label: blocks[label] for label in labels},
        },
        "hyperparameters": {
            "first_pass_C": best.c,
            "first_pass_C_grid": list(c_grid),
            "second_pass_C": CONTEXT_C,
            "article_bias": best.bias,
            "article_recall_target": ARTICLE_RECALL_TARGET,
            "folds": len(folds),
        },
        "cross_validation": {
            "method": f"leave-publisher-out, {len(folds)} folds (GroupKFold by publisher)",
            "tried": [{"first_pass_C": run.c, "macro_f1": run.report["macro_f1"]} for run in tried],
            "report": report,
        },
    }
    manifest = save_model(Path(out), arrays, manifest)
    progress(f"wrote {out}")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """``paysift train`` / ``python -m paysift.train``; returns the exit code."""
    from .evaluate import format_report

    parser = argparse.ArgumentParser(
        prog="paysift train",
        description="Train a model on labeled pages (training format) and write it atomically.",
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="folders (or files) of labeled pages")
    parser.add_argument("--out", required=True, metavar="PATH", help="model folder to write, e.g. models/mine")
    parser.add_argument("--labels", default=",".join(DEFAULT_LABELS),
                        help="comma-separated labels allowed in the data (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=FOLDS, help="cross-validation folds (default: %(default)s)")
    parser.add_argument("--c-grid", default=",".join(f"{c:g}" for c in C_GRID),
                        help="first-pass C values to choose from (default: %(default)s)")
    parser.add_argument("--hash-bits", type=int, default=FeatureSettings().hash_bits,
                        help="log2 of the number of hashed n-gram buckets (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress or report output (for CI)")
    args = parser.parse_args(argv)
    try:
        c_grid = tuple(float(c) for c in args.c_grid.split(","))
        labels = tuple(label.strip() for label in args.labels.split(",") if label.strip())
        settings = FeatureSettings(hash_bits=args.hash_bits)
        if not 8 <= args.hash_bits <= 26:
            raise ValueError("--hash-bits must be from 8 to 26")
        if args.folds < 2:
            raise ValueError("--folds must be at least 2")
    except ValueError as exc:
        parser.error(str(exc))
    try:
        manifest = train(args.dirs, args.out, labels=labels, settings=settings, c_grid=c_grid, n_folds=args.folds,
                         quiet=args.quiet)
    except PaysiftError as exc:
        print(f"paysift train: {exc}", file=sys.stderr)
        print("paysift train: nothing was written", file=sys.stderr)
        return 2
    if not args.quiet:
        print(format_report(manifest["cross_validation"]["report"],
                            f"cross-validation ({manifest['cross_validation']['method']})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
