from __future__ import annotations

import json

import pytest

from paysift import TrainingDataError
from paysift.cli import main
from paysift.corpus import check_pages, corpus_stats, load_jsonl_pages, load_pages

PAGE = """# publisher: Harbour Courier
# lang: en
# newline: {newline}
article | Council backs a wastewater upgrade
article! | The levy rises to $4.99 a month from July.   

paywall | Subscribe to keep reading
pricing! | $4.99
disclaimer | © 2026 Harbour Courier
"""


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_page_text_is_rebuilt_exactly_with_its_labels(tmp_path):
    write(tmp_path, "harbour/a.txt", PAGE.format(newline="crlf"))

    (page,) = load_pages([tmp_path])

    assert page.text == (
        "Council backs a wastewater upgrade\r\nThe levy rises to $4.99 a month from July.   \r\n\r\n"
        "Subscribe to keep reading\r\n$4.99\r\n© 2026 Harbour Courier\r\n"
    )
    spans, labels = page.block_labels()
    assert labels == ["article", "article", "paywall", "pricing", "disclaimer"]
    assert [page.text[a:b] for a, b in spans][1] == "The levy rises to $4.99 a month from July."
    assert [line.hard for line in page.lines] == [False, True, False, True, False]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (PAGE.format(newline="lf").replace("paywall |", "paywal |"), ":7: unknown label 'paywal'"),
        (PAGE.format(newline="lf").replace("# lang: en\n", ""), ":1: missing header '# lang: ...'"),
        (PAGE.format(newline="lf").replace("article | Council", "article Council"), ":4: expected 'label | text'"),
        (PAGE.format(newline="lf").replace("pricing! | $4.99", "pricing! |  "), ":8: empty block"),
        (PAGE.format(newline="lf").replace("# newline: lf", "# colour: red"), ":3: unknown header key 'colour'"),
        (PAGE.format(newline="lf").replace("# newline: lf", "# newline: cr"), ":1: newline must be 'lf' or 'crlf'"),
        ("# publisher: X\n# lang: en\n\n\n", ":1: page has no labeled block"),
        ("just some text\nwith no format\n", ":1: expected 'label | text'"),
    ],
)
def test_every_problem_names_file_and_line(tmp_path, text, problem):
    path = write(tmp_path, "pub/page.txt", text)

    _, problems = check_pages([tmp_path], labels=("article", "paywall", "pricing", "disclaimer"))

    assert any(p.startswith(f"{path}{problem}") for p in problems), problems


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "pub" / "page.txt"
    path.parent.mkdir()
    raw = PAGE.format(newline="lf").encode().replace(b"wastewater", b"waste\xffwater")
    path.write_bytes(raw)

    offset = raw.index(0xFF)

    _, problems = check_pages([tmp_path])

    assert problems == [f"{path}:4: not valid UTF-8 (byte {offset})"]


def test_a_duplicate_page_is_reported(tmp_path):
    write(tmp_path, "pub/a.txt", PAGE.format(newline="lf"))
    duplicate = write(tmp_path, "pub/b.txt", PAGE.format(newline="lf"))

    with pytest.raises(TrainingDataError, match=f"{duplicate}:1: duplicate page: same text as"):
        load_pages([tmp_path])


def test_data_check_exits_non_zero_and_lists_problems(tmp_path, capsys):
    write(tmp_path, "pub/a.txt", PAGE.format(newline="lf").replace("pricing!", "price"))

    assert main(["data", "check", str(tmp_path)]) == 1
    assert "unknown label 'price'" in capsys.readouterr().err


def test_data_stats_json_counts_everything(tmp_path, capsys):
    write(tmp_path, "pub/a.txt", PAGE.format(newline="lf"))
    other = PAGE.format(newline="lf").replace("Harbour Courier\n", "Other Post\n", 1).replace("# lang: en", "# lang: de")
    write(tmp_path, "other/b.txt", other.replace("Council backs", "Council rejects"))

    assert main(["data", "stats", "--json", str(tmp_path)]) == 0

    stats = json.loads(capsys.readouterr().out)
    assert stats["pages"] == 2 and stats["publishers"] == 2
    assert stats["languages"] == {"de": 1, "en": 1}
    assert stats["blocks"] == {"article": 4, "disclaimer": 2, "paywall": 2, "pricing": 2}
    assert stats["hard"] == 4


def test_data_export_writes_every_block(tmp_path, capsys):
    write(tmp_path, "pub/a.txt", PAGE.format(newline="lf"))

    assert main(["data", "export", str(tmp_path)]) == 0

    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["label"] for row in rows] == ["article", "article", "paywall", "pricing", "disclaimer"]
    assert rows[1] == {
        "text": "The levy rises to $4.99 a month from July.   ",
        "label": "article",
        "hard": True,
        "publisher": "Harbour Courier",
        "lang": "en",
        "page": str(tmp_path / "pub" / "a.txt"),
        "index": 1,
    }


def test_jsonl_pages_are_rebuilt_in_index_order(tmp_path):
    rows = [
        {"text": "Subscribe", "label": "paywall", "doc": "d1", "index": 1, "site": "x.com", "lang": "en"},
        {"text": "Headline", "label": "article", "doc": "d1", "index": 0, "site": "x.com", "lang": "en"},
        {"text": "Menu", "label": None, "doc": "d1", "index": 2, "site": "x.com", "lang": "en"},
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")

    (page,) = load_jsonl_pages(path)

    assert page.text == "Headline\nSubscribe\nMenu"
    assert [line.label for line in page.lines] == ["article", "paywall"]
    assert corpus_stats([page])["blocks"] == {"article": 1, "paywall": 1}
