"""Score predictions against gold labels: the report of ``paysift evaluate``, of the
trainer's cross-validation and of ``benchmarks/accuracy.py``.

Two figures lead, because they are the errors users meet: **article recall**
(article lines kept; losing story text is the worst error) and **boilerplate
recall** (paywall, pricing and disclaimer lines not left in as article).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .corpus import OTHER_LABEL, Page
from .types import DEFAULT_LABELS

ARTICLE = "article"
WORST_PUBLISHERS = 5


@dataclass(frozen=True)
class ScoredLine:
    """A gold-labeled line and the label predicted for it."""

    gold: str
    predicted: str
    publisher: str
    lang: str


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _f1(precision: float | None, recall: float | None) -> float:
    if not precision or not recall:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _summary(lines: Sequence[ScoredLine], labels: Sequence[str]) -> dict[str, Any]:
    scored = [line for line in lines if line.gold in labels]
    pairs = Counter((line.gold, line.predicted) for line in scored)
    gold_counts = Counter(line.gold for line in scored)
    predicted_counts = Counter(line.predicted for line in scored)
    per_class: dict[str, dict[str, Any]] = {}
    for label in labels:
        hits = pairs[(label, label)]
        precision = _ratio(hits, predicted_counts[label])
        recall = _ratio(hits, gold_counts[label])
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": round(_f1(precision, recall), 4),
            "support": gold_counts[label],
        }
    present = [label for label in labels if gold_counts[label]]
    boilerplate = [line for line in scored if line.gold != ARTICLE]
    junk = [line for line in lines if line.gold != ARTICLE]
    return {
        "lines": len(scored),
        "macro_f1": round(sum(per_class[label]["f1"] for label in present) / len(present), 4) if present else None,
        "article_recall": per_class[ARTICLE]["recall"] if ARTICLE in per_class else None,
        "boilerplate_recall": _ratio(sum(line.predicted != ARTICLE for line in boilerplate), len(boilerplate)),
        "junk_recall": _ratio(sum(line.predicted != ARTICLE for line in junk), len(junk)),
        "accuracy": _ratio(sum(line.gold == line.predicted for line in scored), len(scored)),
        "per_class": per_class,
    }


def score(lines: Sequence[ScoredLine], labels: Sequence[str] = DEFAULT_LABELS) -> dict[str, Any]:
    """Full report: per-class scores, confusion matrix, the headline recalls,
    per language and the worst publishers.

    Lines whose gold label is not one of ``labels`` (``other`` junk of the
    real-world set) count only towards ``junk_recall``: the share of non-article
    lines of any kind not called article.
    """
    report = _summary(lines, labels)
    gold_rows = list(labels) + sorted({line.gold for line in lines} - set(labels))
    pairs = Counter((line.gold, line.predicted) for line in lines)
    report["confusion"] = {
        "gold_rows": gold_rows,
        "predicted_columns": list(labels),
        "matrix": [[pairs[(gold, predicted)] for predicted in labels] for gold in gold_rows],
    }
    report["other_lines"] = sum(line.gold == OTHER_LABEL for line in lines)
    by_lang: dict[str, list[ScoredLine]] = defaultdict(list)
    by_publisher: dict[str, list[ScoredLine]] = defaultdict(list)
    for line in lines:
        by_lang[line.lang].append(line)
        by_publisher[line.publisher].append(line)
    report["per_language"] = {
        lang: {key: value for key, value in _summary(group, labels).items() if key != "per_class"}
        for lang, group in sorted(by_lang.items())
    }
    publishers = []
    for publisher, group in by_publisher.items():
        summary = _summary(group, labels)
        if summary["lines"]:
            publishers.append({"publisher": publisher, **{k: v for k, v in summary.items() if k != "per_class"}})
    publishers.sort(key=lambda row: (row["accuracy"], row["publisher"]))
    report["worst_publishers"] = publishers[:WORST_PUBLISHERS]
    report["publishers"] = len(publishers)
    return report


def page_predictions(page: Page, classify: Callable[[str], Sequence[Any]]) -> list[ScoredLine]:
    """Classify the whole text of ``page`` and score each gold line by the predicted
    block that covers most of it, so segmentation is part of what is measured.
    Lines no block covers (whitespace only) are not scored."""
    blocks = classify(page.text)
    scored = []
    k = 0
    for line in page.lines:
        while k < len(blocks) and blocks[k].end <= line.start:
            k += 1
        best, overlap = None, 0
        j = k
        while j < len(blocks) and blocks[j].start < line.end:
            covered = min(blocks[j].end, line.end) - max(blocks[j].start, line.start)
            if covered > overlap:
                best, overlap = blocks[j], covered
            j += 1
        if best is not None and line.label is not None:
            scored.append(ScoredLine(line.label, best.label, page.publisher, page.lang))
    return scored


def evaluate_pages(pages: Sequence[Page], model: Any = None) -> dict[str, Any]:
    """Score ``model`` (default: the shipped one) on labeled pages, line by line."""
    from .api import classify
    from .model import default_model

    model = model or default_model()
    lines = [line for page in pages for line in page_predictions(page, lambda text: classify(text, model=model))]
    report = score(lines, model.labels)
    report["pages"] = len(pages)
    return report


def format_report(report: dict[str, Any], title: str = "") -> str:
    """The report as a table for people."""
    out = []
    if title:
        out.append(title)

    def fmt(value: float | None) -> str:
        return "  -  " if value is None else f"{value:.3f}"

    out.append(
        f"lines {report['lines']}  macro-F1 {fmt(report['macro_f1'])}  "
        f"article recall {fmt(report['article_recall'])}  boilerplate recall {fmt(report['boilerplate_recall'])}"
        + (f"  all-junk recall {fmt(report['junk_recall'])}" if report.get("other_lines") else "")
    )
    out.append("")
    out.append(f"{'label':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for label, row in report["per_class"].items():
        out.append(f"{label:<12}{fmt(row['precision']):>10}{fmt(row['recall']):>10}{fmt(row['f1']):>10}{row['support']:>10}")
    confusion = report["confusion"]
    out.append("")
    out.append("confusion (rows: gold, columns: predicted)")
    out.append(f"{'':<12}" + "".join(f"{label[:10]:>11}" for label in confusion["predicted_columns"]))
    for gold, row in zip(confusion["gold_rows"], confusion["matrix"]):
        out.append(f"{gold:<12}" + "".join(f"{count:>11}" for count in row))
    out.append("")
    out.append(f"{'language':<12}{'lines':>8}{'macro-F1':>10}{'art.rec':>10}{'boil.rec':>10}")
    for lang, row in report["per_language"].items():
        out.append(f"{lang or '?':<12}{row['lines']:>8}{fmt(row['macro_f1']):>10}{fmt(row['article_recall']):>10}"
                   f"{fmt(row['boilerplate_recall']):>10}")
    out.append("")
    out.append(f"worst publishers (of {report['publishers']})")
    for row in report["worst_publishers"]:
        out.append(f"  {row['publisher']:<34}{row['lines']:>6} lines  accuracy {fmt(row['accuracy'])}"
                   f"  article recall {fmt(row['article_recall'])}")
    return "\n".join(out) + "\n"
