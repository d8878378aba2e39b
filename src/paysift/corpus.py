"""Read labeled pages: the training format (``training_data/README.md``) and JSON
Lines of labeled blocks such as ``../shared/realworld/visible.jsonl``.

Every problem is reported as ``path:line: message`` so a user can fix a file
they dropped into the corpus without reading our code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import TrainingDataError
from .segment import split_paragraphs

REQUIRED_KEYS = ("publisher", "lang")
KNOWN_KEYS = ("publisher", "lang", "domain", "region", "source", "newline")
NEWLINES = {"lf": "\n", "crlf": "\r\n"}
PAGE_SUFFIX = ".txt"
# labels of JSON Lines sets that are scored apart from the model's labels
OTHER_LABEL = "other"

_HEADER = re.compile(r"#\s*([A-Za-z_]+)\s*:\s*(.*?)\s*$")
_BODY = re.compile(r"([a-z][a-z0-9_]*)(!?) ?\| (.*)$", re.DOTALL)
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z]{2,4})?")


@dataclass(frozen=True)
class LabeledLine:
    """One line of a page with its gold label (``None``: not labeled, not scored)."""

    label: str | None
    hard: bool
    start: int  # offsets of the line in the page text
    end: int
    source_line: int  # line number in the file it came from


@dataclass(frozen=True)
class Page:
    """A labeled page: its text as an extractor would give it, and its lines."""

    path: str
    publisher: str
    lang: str
    text: str
    lines: tuple[LabeledLine, ...]
    meta: tuple[tuple[str, str], ...] = ()

    def block_labels(self) -> tuple[list[tuple[int, int]], list[str | None]]:
        """The segmenter's blocks of the page and the gold label of each."""
        spans = split_paragraphs(self.text)
        labels: list[str | None] = []
        lines = self.lines
        k = 0
        for start, _ in spans:
            while k < len(lines) and lines[k].end <= start:
                k += 1
            labels.append(lines[k].label if k < len(lines) and lines[k].start <= start else None)
        return spans, labels


def _parse_page(path: Path, raw: bytes, problems: list[str]) -> Page | None:
    """Parse one page file, appending its problems; ``None`` when it has any."""
    before = len(problems)
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_number = raw[: exc.start].count(b"\n") + 1
        problems.append(f"{path}:{line_number}: not valid UTF-8 (byte {exc.start})")
        return None
    meta: dict[str, str] = {}
    body: list[tuple[int, str | None, bool, str]] = []  # (file line, label, hard, text)
    in_header = True
    for number, line in enumerate(content.split("\n"), start=1):
        line = line.removesuffix("\r")
        if in_header and line.startswith("#"):
            match = _HEADER.match(line)
            if not match:
                problems.append(f"{path}:{number}: header line is not '# key: value'")
                continue
            key, value = match.group(1).lower(), match.group(2)
            if key not in KNOWN_KEYS:
                problems.append(f"{path}:{number}: unknown header key {key!r} (known: {', '.join(KNOWN_KEYS)})")
            elif key in meta:
                problems.append(f"{path}:{number}: header key {key!r} given twice")
            else:
                meta[key] = value
            continue
        if line.startswith("#"):
            continue  # a comment in the body
        in_header = False
        if not line.strip():
            body.append((number, None, False, line))
            continue
        match = _BODY.match(line)
        if not match:
            problems.append(f"{path}:{number}: expected 'label | text', got {line[:60]!r}")
            continue
        label, hard, text = match.groups()
        if not text.strip():
            problems.append(f"{path}:{number}: empty block (label {label!r} with no text)")
            continue
        body.append((number, label, hard == "!", text))
    for key in REQUIRED_KEYS:
        if not meta.get(key):
            problems.append(f"{path}:1: missing header '# {key}: ...'")
    if meta.get("lang") and not _LANG.fullmatch(meta["lang"]):
        problems.append(f"{path}:1: lang {meta['lang']!r} is not an ISO 639 code such as 'en' or 'de'")
    newline = NEWLINES.get(meta.get("newline", "lf").lower())
    if newline is None:
        problems.append(f"{path}:1: newline must be 'lf' or 'crlf', got {meta['newline']!r}")
        newline = "\n"
    while body and body[-1][1] is None:
        body.pop()  # blank lines at the end of the file are not part of the page
    while body and body[0][1] is None:
        body.pop(0)  # nor are those between the header and the first block
    if not any(label for _, label, _, _ in body):
        problems.append(f"{path}:1: page has no labeled block")
        return None
    if len(problems) > before:
        return None
    parts: list[str] = []
    lines: list[LabeledLine] = []
    offset = 0
    for number, label, hard, text in body:
        parts.append(text)
        lines.append(LabeledLine(label, hard, offset, offset + len(text), number))
        offset += len(text) + len(newline)
    return Page(
        path=str(path),
        publisher=meta["publisher"],
        lang=meta["lang"],
        text=newline.join(parts) + newline,
        lines=tuple(line for line in lines if line.label is not None),
        meta=tuple(sorted(meta.items())),
    )


def page_files(directories: Sequence[str | Path]) -> list[Path]:
    """Every page file under ``directories``, in a stable order."""
    files: list[Path] = []
    for directory in directories:
        root = Path(directory)
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(sorted(path for path in root.rglob(f"*{PAGE_SUFFIX}") if path.is_file()))
        else:
            raise TrainingDataError([f"{root}: no such file or folder"])
    return files


def check_pages(directories: Sequence[str | Path], labels: Iterable[str] | None = None) -> tuple[list[Page], list[str]]:
    """Parse every page under ``directories``; return the pages and every problem found.

    ``labels``, when given, is the set of allowed labels.
    """
    allowed = set(labels) if labels is not None else None
    problems: list[str] = []
    pages: list[Page] = []
    seen: dict[str, str] = {}
    for path in page_files(directories):
        before = len(problems)
        page = _parse_page(path, path.read_bytes(), problems)
        if page is None:
            continue
        if allowed is not None:
            for line in page.lines:
                if line.label not in allowed:
                    problems.append(
                        f"{path}:{line.source_line}: unknown label {line.label!r} (known: {', '.join(sorted(allowed))})"
                    )
        digest = hashlib.sha256(page.text.encode("utf-8")).hexdigest()
        if digest in seen:
            problems.append(f"{path}:1: duplicate page: same text as {seen[digest]}")
            continue
        seen[digest] = str(path)
        if len(problems) == before:
            pages.append(page)
    return pages, problems


def load_pages(directories: Sequence[str | Path], labels: Iterable[str] | None = None) -> list[Page]:
    """Parse every page under ``directories``.

    Raises:
        TrainingDataError: listing every problem as ``path:line: message``.
    """
    pages, problems = check_pages(directories, labels)
    if problems:
        raise TrainingDataError(problems)
    if not pages:
        raise TrainingDataError([f"{', '.join(map(str, directories))}: no page files (*{PAGE_SUFFIX}) found"])
    return pages


def load_jsonl_pages(path: str | Path) -> list[Page]:
    """Read labeled blocks in JSON Lines (``text``, ``label``, ``doc``, ``index``, ...)
    and rebuild each page as its blocks joined by newlines, in ``index`` order."""
    path = Path(path)
    grouped: dict[tuple[str, str], list[tuple[int, int, dict[str, object]]]] = defaultdict(list)
    problems: list[str] = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text, label = row["text"], row["label"]
                if not isinstance(text, str) or not (label is None or isinstance(label, str)):
                    raise TypeError("text must be a string and label a string or null")
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                problems.append(f"{path}:{number}: {type(exc).__name__}: {exc}")
                continue
            doc = str(row.get("doc", row.get("page", "")))
            key = (doc, str(row.get("extractor", "")))
            grouped[key].append((int(row.get("index", number)), number, row))
    if problems:
        raise TrainingDataError(problems)
    pages = []
    for (doc, extractor), rows in grouped.items():
        rows.sort(key=lambda item: item[0])
        lines, parts, offset = [], [], 0
        for _, number, row in rows:
            text = str(row["text"])
            label = row["label"]
            lines.append(LabeledLine(label if isinstance(label, str) else None, bool(row.get("hard")), offset, offset + len(text), number))
            parts.append(text)
            offset += len(text) + 1
        first = rows[0][2]
        publisher = str(first.get("site") or first.get("publisher") or doc)
        pages.append(
            Page(
                path=f"{path}#{doc}" + (f"@{extractor}" if extractor else ""),
                publisher=publisher,
                lang=str(first.get("lang", "")),
                text="\n".join(parts),
                lines=tuple(line for line in lines if line.label is not None),
            )
        )
    return pages


def load_any(paths: Sequence[str | Path]) -> list[Page]:
    """Pages from folders or files in the training format and from ``.jsonl`` files."""
    pages: list[Page] = []
    folders = []
    for path in map(Path, paths):
        if path.suffix == ".jsonl":
            pages.extend(load_jsonl_pages(path))
        else:
            folders.append(path)
    if folders:
        pages.extend(load_pages(folders))
    return pages


def corpus_stats(pages: Sequence[Page]) -> dict[str, object]:
    """Counts for ``paysift data stats``."""
    blocks: Counter[str] = Counter()
    hard: Counter[str] = Counter()
    languages: Counter[str] = Counter(page.lang for page in pages)
    for page in pages:
        for line in page.lines:
            assert line.label is not None
            blocks[line.label] += 1
            hard[line.label] += line.hard
    return {
        "pages": len(pages),
        "publishers": len({page.publisher for page in pages}),
        "languages": dict(sorted(languages.items(), key=lambda item: (-item[1], item[0]))),
        "blocks": dict(sorted(blocks.items(), key=lambda item: (-item[1], item[0]))),
        "hard": sum(hard.values()),
        "hard_by_label": dict(sorted(hard.items(), key=lambda item: (-item[1], item[0]))),
    }


def export_rows(pages: Sequence[Page]) -> Iterable[dict[str, object]]:
    """Every labeled block as a JSON-ready row, in page order."""
    for page in pages:
        for index, line in enumerate(page.lines):
            yield {
                "text": page.text[line.start : line.end],
                "label": line.label,
                "hard": line.hard,
                "publisher": page.publisher,
                "lang": page.lang,
                "page": page.path,
                "index": index,
            }
