from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import EXAMPLE

from paysift.cli import main


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "paysift", *args], input=stdin, capture_output=True)


def test_classify_prints_one_json_object_per_block(capsys):
    assert main(["classify", str(EXAMPLE)]) == 0

    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    text = EXAMPLE.read_text(encoding="utf-8")
    assert len(rows) == 21
    assert all(text[row["start"] : row["end"]] == row["text"] for row in rows)
    assert {row["label"] for row in rows} == {"article", "paywall", "pricing", "disclaimer"}
    assert set(rows[0]["scores"]) == {"article", "paywall", "pricing", "disclaimer"}


def test_classify_table_is_readable(capsys):
    assert main(["classify", "--format", "table", str(EXAMPLE)]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["#", "label", "score", "offset", "text"]
    assert "\x1b[" not in "".join(out)  # no colour when not writing to a terminal


def test_clean_reads_standard_input():
    result = run("clean", stdin=b"The mayor of Brill resigned on Monday after a row over the budget.\nSubscribe to keep reading.\n")

    assert result.returncode == 0
    assert result.stdout.decode() == "The mayor of Brill resigned on Monday after a row over the budget.\n"


def test_missing_file_is_a_one_line_error_without_traceback():
    result = run("clean", "no/such/page.txt")

    assert result.returncode == 2
    assert result.stderr.decode() == "paysift: no/such/page.txt: no such file\n"


def test_undecodable_bytes_name_their_offset(tmp_path):
    page = tmp_path / "page.txt"
    page.write_bytes("Caf\u00e9 story\n".encode() + b"\xff\xfe rest")

    result = run("classify", str(page))

    assert result.returncode == 2
    assert result.stderr.decode() == f"paysift: {page}: not valid UTF-8 at byte offset 12 (byte 0xff)\n"
    assert b"Traceback" not in result.stderr


def test_bad_model_path_is_a_clear_error(tmp_path):
    result = run("classify", "--model", str(tmp_path), str(EXAMPLE))

    assert result.returncode == 2
    assert "manifest.json: missing" in result.stderr.decode()


def test_python_dash_m_and_console_script_agree():
    result = run("clean", str(EXAMPLE))

    assert result.returncode == 0
    assert result.stdout.decode().startswith("Ferry operator fined")


@pytest.mark.parametrize("args", [["--help"], ["classify", "--help"], ["data", "stats", "--help"]])
def test_help_exits_cleanly(args):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0


def test_annotate_writes_a_page_that_loads_back_with_the_models_labels(tmp_path, capsys):
    from paysift import classify
    from paysift.corpus import load_pages

    out = tmp_path / "new-publisher" / "page.txt"
    out.parent.mkdir()

    assert main(["annotate", str(EXAMPLE), "--publisher", "Harbour Gazette", "--lang", "en", "-o", str(out)]) == 0

    written = out.read_text(encoding="utf-8")
    assert sum(line.startswith("# CHECK:") for line in written.splitlines()) == 5
    (page,) = load_pages([out.parent])
    spans, labels = page.block_labels()
    blocks = classify(EXAMPLE.read_text(encoding="utf-8"))
    assert [page.text[a:b] for a, b in spans] == [b.text for b in blocks]
    assert labels == [b.label for b in blocks]


def test_evaluate_prints_a_report_and_json(tmp_path, capsys):
    out = tmp_path / "pub" / "page.txt"
    out.parent.mkdir()
    main(["annotate", str(EXAMPLE), "--publisher", "Harbour Gazette", "-o", str(out)])
    capsys.readouterr()

    assert main(["evaluate", str(out.parent)]) == 0
    table = capsys.readouterr().out
    assert main(["evaluate", "--json", str(out.parent)]) == 0
    report = json.loads(capsys.readouterr().out)

    assert "article recall 1.000" in table and "confusion" in table
    assert report["accuracy"] == 1.0 and report["pages"] == 1 and report["lines"] == 21
    assert set(report["per_class"]) == {"article", "paywall", "pricing", "disclaimer"}
