"""The ``paysift`` command line: classify, clean, data, train, evaluate, annotate."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .errors import PaysiftError

USAGE_ERROR = 2  # exit code of a user mistake: bad file, bad data, bad arguments

_COLOURS = {"article": "32", "paywall": "33", "pricing": "35", "disclaimer": "36"}


class UserError(Exception):
    """A mistake the user can fix; printed as one line, no traceback."""


def _read_text(source: str) -> str:
    """Read ``source`` (a path, or ``-`` for standard input) as strict UTF-8."""
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except FileNotFoundError:
        raise UserError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{source}: is a folder, expected a text file") from None
    except OSError as exc:
        raise UserError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        name = "standard input" if source == "-" else source
        raise UserError(f"{name}: not valid UTF-8 at byte offset {exc.start} (byte 0x{data[exc.start]:02x})") from None


def _model(path: str | None):  # type: ignore[no-untyped-def]
    from .model import load_model

    return load_model(path) if path else None


def _cmd_classify(args: argparse.Namespace, out: TextIO) -> int:
    from .api import classify

    blocks = classify(_read_text(args.file), model=_model(args.model))
    if args.format == "table":
        _print_table(blocks, out)
    else:
        for index, block in enumerate(blocks):
            row = {
                "index": index,
                "start": block.start,
                "end": block.end,
                "label": block.label,
                "score": round(block.score, 6),
                "scores": {label: round(p, 6) for label, p in block.scores.items()},
                "text": block.text,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


def _print_table(blocks, out: TextIO) -> None:  # type: ignore[no-untyped-def]
    colour = out.isatty() and "NO_COLOR" not in os.environ
    width = shutil.get_terminal_size((100, 20)).columns
    room = max(width - 32, 20)
    out.write(f"{'#':>4}  {'label':<10}  {'score':>5}  {'offset':>9}  text\n")
    for index, block in enumerate(blocks):
        text = block.text if len(block.text) <= room else block.text[: room - 1] + "…"
        label = f"{block.label:<10}"
        if colour:
            label = f"\x1b[{_COLOURS.get(block.label, '1')}m{label}\x1b[0m"
        out.write(f"{index:>4}  {label}  {block.score:5.2f}  {block.start:>9}  {text}\n")


def _cmd_clean(args: argparse.Namespace, out: TextIO) -> int:
    from .api import clean

    text = clean(_read_text(args.file), model=_model(args.model))
    out.write(text + ("\n" if text else ""))
    return 0


def _cmd_data(args: argparse.Namespace, out: TextIO) -> int:
    from . import corpus

    if args.data_command == "check":
        pages, problems = corpus.check_pages(args.dirs, labels=None if args.any_label else _default_labels())
        for problem in problems:
            print(problem, file=sys.stderr)
        publishers = len({page.publisher for page in pages})
        if problems:
            print(f"paysift: {len(problems)} problems in {', '.join(args.dirs)}", file=sys.stderr)
            return 1
        out.write(f"ok: {len(pages)} pages from {publishers} publishers\n")
        return 0
    pages = corpus.load_pages(args.dirs, labels=None if args.any_label else _default_labels())
    if args.data_command == "stats":
        from .variety import near_duplicate_shares

        stats = corpus.corpus_stats(pages)
        if args.near_duplicates:
            stats["near_duplicate_share"] = near_duplicate_shares(pages)
        if args.json:
            out.write(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
        else:
            out.writelines(f"{key}: {value}\n" for key, value in stats.items())
        return 0
    rows = (json.dumps(row, ensure_ascii=False) + "\n" for row in corpus.export_rows(pages))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as target:
            target.writelines(rows)
    else:
        out.writelines(rows)
    return 0


def _default_labels() -> tuple[str, ...]:
    from .types import DEFAULT_LABELS

    return DEFAULT_LABELS


def _cmd_train(args: argparse.Namespace, out: TextIO) -> int:
    from .train import main as train_main

    return train_main(args.train_argv)


def _cmd_evaluate(args: argparse.Namespace, out: TextIO) -> int:
    from .corpus import load_any
    from .evaluate import evaluate_pages, format_report
    from .model import default_model, load_model

    model = load_model(args.model) if args.model else default_model()
    report = evaluate_pages(load_any(args.data), model)
    out.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n" if args.json else format_report(report))
    return 0


def _cmd_annotate(args: argparse.Namespace, out: TextIO) -> int:
    from .annotate import annotate

    text = annotate(_read_text(args.page), model=_model(args.model), publisher=args.publisher, lang=args.lang,
                    review=args.review)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        out.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paysift",
        description="Label blocks of scraped news text as article, paywall, pricing or disclaimer.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    classify = commands.add_parser("classify", help="label every block of a page (JSON Lines or a table)")
    classify.add_argument("file", nargs="?", default="-", help="UTF-8 text file, or - for standard input (default)")
    classify.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    classify.add_argument("--model", metavar="PATH", help="model folder (default: the shipped model)")
    classify.set_defaults(run=_cmd_classify)

    clean = commands.add_parser("clean", help="print the article text of a page only")
    clean.add_argument("file", nargs="?", default="-", help="UTF-8 text file, or - for standard input (default)")
    clean.add_argument("--model", metavar="PATH", help="model folder (default: the shipped model)")
    clean.set_defaults(run=_cmd_clean)

    data = commands.add_parser("data", help="check, count or export labeled training pages")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    check = data_commands.add_parser("check", help="report every problem with file and line; exit 1 if any")
    stats = data_commands.add_parser("stats", help="count pages, publishers, languages and blocks")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.add_argument("--near-duplicates", action="store_true",
                       help="also measure per label the share of blocks near-duplicating another publisher's")
    export = data_commands.add_parser("export", help="write every block as JSON Lines")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    for sub in (check, stats, export):
        sub.add_argument("dirs", nargs="+", metavar="DIR")
        sub.add_argument("--any-label", action="store_true", help="accept labels beyond the default four")
    data.set_defaults(run=_cmd_data)

    train = commands.add_parser("train", help="train a model on labeled pages (see 'paysift train --help')",
                                add_help=False)
    train.add_argument("train_argv", nargs=argparse.REMAINDER)
    train.set_defaults(run=_cmd_train)

    evaluate = commands.add_parser("evaluate", help="score a model on labeled pages or JSON Lines")
    evaluate.add_argument("data", nargs="+", metavar="DATA", help="page folders/files or .jsonl files")
    evaluate.add_argument("--model", metavar="PATH", help="model folder (default: the shipped model)")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.set_defaults(run=_cmd_evaluate)

    annotate = commands.add_parser("annotate", help="write a page in the training format, pre-labeled")
    annotate.add_argument("page", help="UTF-8 text file of an extracted page, or -")
    annotate.add_argument("--publisher", default="UNKNOWN", help="publisher name for the header")
    annotate.add_argument("--lang", default="en", help="ISO 639-1 language code for the header")
    annotate.add_argument("--model", metavar="PATH", help="model folder (default: the shipped model)")
    annotate.add_argument("--review", type=int, default=5, metavar="N",
                          help="mark the N least confident blocks with a CHECK comment (default 5)")
    annotate.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    annotate.set_defaults(run=_cmd_annotate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args, sys.stdout))
    except (UserError, PaysiftError) as exc:
        print(f"paysift: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:
        # the reader went away (e.g. `paysift classify page.txt | head`): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
