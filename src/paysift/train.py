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

C_GRID = (3.0, 10.0, 30.0)  # first-pass inverse regularisation strengths tried
CONTEXT_C = 1.0  # second pass: few dense features, little to regularise
FOLDS = 5
ARTICLE_RECALL_TARGET = 0.995
BIAS_GRID = tuple(round(0.05 * step, 2) for step in range(0, 101))  # article logit bias tried, in nats
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
    rows, cols, values, shapes, y, groups, bounds, publishers, langs = [], [], [], [], [], [], [0], [], []
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
        logits = np.asarray(x @ self.coef.T) + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def _fit(x: Any, y: npt.NDArray[np.intp], c: float, n_labels: int) -> LinearFit:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    classifier = LogisticRegression(C=c, max_iter=MAX_ITER, tol=TOLERANCE)
    # one BLAS thread: floating-point sums in a fixed order, so weights are byte-identical
    with threadpool_limits(1):
        classifier.fit(x, y)
    classes = classifier.classes_
    coef = np.zeros((n_labels, x.shape[1]))
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
    probs = np.exp(log_probs)
    bounds = data.page_bounds
    return np.vstack([context_features(probs[a:b], data.shape[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])


def _folds(data: Dataset, n_folds: int) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    from sklearn.model_selection import GroupKFold

    n_publishers = len(set(data.groups.tolist()))
    if n_publishers < 2:
        raise PaysiftError(f"cross-validation needs pages of at least 2 publishers, got {n_publishers}")
    splitter = GroupKFold(n_splits=min(n_folds, n_publishers))
    return list(splitter.split(data.hashed, data.y, data.groups))


def _fold_log_proba(
    x: Any, y: npt.NDArray[np.intp], train: npt.NDArray[np.intp], test: npt.NDArray[np.intp], c: float, n_labels: int
) -> tuple[npt.NDArray[np.float64], float]:
    started = time.perf_counter()
    log_probs = _fit(x[train], y[train], c, n_labels).log_proba(x[test])
    return log_probs, time.perf_counter() - started


def _out_of_fold(
    x: Any,
    data: Dataset,
    folds: Sequence[tuple[Any, Any]],
    c: float,
    n_labels: int,
    n_jobs: int,
    progress: Progress,
    what: str,
) -> npt.NDArray[np.float64]:
    """Log-probabilities of every block from the model of the folds that left its publisher out."""
    from joblib import Parallel, delayed

    log_probs = np.zeros((len(data.y), n_labels))
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fold_log_proba)(x, data.y, train, test, c, n_labels) for train, test in folds
    )
    for number, ((_, test), (fold_log_probs, seconds)) in enumerate(zip(folds, results), start=1):
        log_probs[test] = fold_log_probs
        progress(f"{what}: fold {number}/{len(folds)} took {seconds:.1f}s")
    return log_probs


def _article_bias(log_probs: npt.NDArray[np.float64], y: npt.NDArray[np.intp], article: int | None) -> float:
    """Smallest bias on the article logit giving the target article recall."""
    if article is None or not (y == article).any():
        return 0.0
    is_article = y == article
    for bias in BIAS_GRID:
        shifted = log_probs.copy()
        shifted[:, article] += bias
        if (shifted[is_article].argmax(axis=1) == article).mean() >= ARTICLE_RECALL_TARGET:
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
    settings: FeatureSettings = FeatureSettings(),
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

    progress = Progress(quiet)
    pages = load_pages(directories, labels=labels)
    present = {line.label for page in pages for line in page.lines}
    labels = tuple(label for label in labels if label in present)
    if len(labels) < 2:
        raise PaysiftError(f"training needs at least two labels in the data, found {sorted(present)}")
    progress(f"read {len(pages)} pages from {len({p.publisher for p in pages})} publishers")
    data = build_dataset(pages, labels, settings)
    progress(f"featurised {len(data.y)} blocks into {data.hashed.nnz} hashed values")
    shape_mean, shape_scale = _standardise(data.shape)
    x1 = _first_pass_matrix(data, shape_mean, shape_scale)
    folds = _folds(data, n_folds)
    article = labels.index(ARTICLE) if ARTICLE in labels else None
    n_labels = len(labels)
    tried = []
    for c in c_grid:
        first = _out_of_fold(x1, data, folds, c, n_labels, n_jobs, progress, f"C={c:g} first pass")
        context = _context(data, first)
        mean, scale = _standardise(context)
        x2 = (context - mean) / scale
        second = _out_of_fold(x2, data, folds, CONTEXT_C, n_labels, 1, progress, f"C={c:g} second pass")
        report = _report(data, second, labels)
        progress(f"C={c:g}: macro-F1 {report['macro_f1']}, article recall {report['article_recall']}")
        tried.append((report["macro_f1"], -c, c, second, x2, mean, scale))
    _, _, best_c, second, x2, context_mean, context_scale = max(tried, key=lambda item: item[:2])
    bias = _article_bias(second, data.y, article)
    if article is not None:
        second[:, article] += bias
    report = _report(data, second, labels)
    progress(f"chosen C={best_c:g}, article bias {bias:g}: macro-F1 {report['macro_f1']}, "
             f"article recall {report['article_recall']}, boilerplate recall {report['boilerplate_recall']}")
    final_first, final_second = Parallel(n_jobs=n_jobs)(
        delayed(_fit)(x, data.y, c, n_labels) for x, c in ((x1, best_c), (x2, CONTEXT_C))
    )
    progress("fitted the final model on all pages")
    context_intercept = final_second.intercept.copy()
    if article is not None:
        context_intercept[article] += bias
    n_hashed = settings.n_hashed
    arrays = {
        "hashed": final_first.coef[:, :n_hashed].T.astype(np.float32),
        "shape": final_first.coef[:, n_hashed:].T.copy(),
        "shape_mean": shape_mean,
        "shape_scale": shape_scale,
        "intercept": final_first.intercept,
        "context": final_second.coef.T.copy(),
        "context_mean": context_mean,
        "context_scale": context_scale,
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
            "first_pass_C": best_c,
            "first_pass_C_grid": list(c_grid),
            "second_pass_C": CONTEXT_C,
            "article_bias": bias,
            "article_recall_target": ARTICLE_RECALL_TARGET,
            "folds": len(folds),
        },
        "cross_validation": {
            "method": f"leave-publisher-out, {len(folds)} folds (GroupKFold by publisher)",
            "tried": [{"first_pass_C": c, "macro_f1": f1} for f1, _, c, *_ in tried],
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
