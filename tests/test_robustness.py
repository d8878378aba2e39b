"""Hostile and odd input: every call returns a correct result or a clear error, in
time linear in the input."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysift import ItemError, classify, classify_many, clean

ODD_TEXTS = {
    "empty": "",
    "spaces": " \t \u00a0 \u3000 ",
    "newlines": "\n" * 500_000,
    "every line break": "a\nb\r\nc\rd\u2028e\u2029f\x85g\x0ch\x0bi\x1cj\x1dk\x1el",
    "nul bytes": "Subscribe\x00now\n\x00\x00\nThe council met.\x00",
    "lone surrogates": "The \ud800 council \udfff met.\nSubscribe \udbff",
    "zero-width and bidi": "\u200bSubscribe\u200d now\u200e\n\u202eThe council met.\u202c\n\ufeff© 2026",
    "combining marks": "Cafe\u0301 prices rise\u0308\u0308\u0308\u0308 again\n" + "a" + "\u0301" * 10_000,
    "emoji": "🙂 Subscribe now 🚀🚀\n🇬🇧 £1 a week 🎉\n" + "🙂" * 50_000,
    "cjk": "東京都は月曜日に新しい予算を承認した。\n今すぐ購読する\n月額980円\n© 2026 東京新聞",
    "arabic": "أقر المجلس الميزانية الجديدة يوم الاثنين.\nاشترك الآن\n٩٫٩٩ دولار شهريًا",
    "devanagari": "परिषद ने सोमवार को नया बजट पारित किया।\nअभी सदस्यता लें\n₹९०० प्रति माह",
    "html pasted by mistake": "<html><head><title>Story</title></head><body><div class='paywall'>Subscribe</div>"
    "<p>The council met.</p></body></html>",
    "json pasted by mistake": json.dumps({"title": "Story", "body": ["Subscribe now", "£1 a week"], "n": 42}, indent=2),
    "only prices": "\n".join(["£1.99", "per month", "Save 40%", "Billed annually", "€9,99", "3 Months"] * 50),
    "only disclaimer": "\n".join(["© 2026 Example Media Ltd. All rights reserved.", "Privacy Policy", "Terms of Use"] * 50),
}


@pytest.mark.parametrize("name", list(ODD_TEXTS))
def test_odd_input_gets_a_correct_result(name):
    text = ODD_TEXTS[name]

    blocks = classify(text)

    for block in blocks:
        assert text[block.start : block.end] == block.text
        assert block.label in block.scores and 0.0 <= block.score <= 1.0
    assert clean(text) == "\n".join(b.text for b in blocks if b.label == "article")


def test_a_page_of_price_lines_is_not_kept_as_article():
    blocks = classify(ODD_TEXTS["only prices"])

    assert sum(block.label == "article" for block in blocks) <= len(blocks) * 0.05


def test_a_page_of_legal_lines_is_not_kept_as_article():
    blocks = classify(ODD_TEXTS["only disclaimer"])

    assert sum(block.label == "article" for block in blocks) <= len(blocks) * 0.05


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300))
def test_any_code_point_sequence_is_classified(text):
    blocks = classify(text)

    assert all(text[block.start : block.end] == block.text for block in blocks)


def _seconds(text: str) -> float:
    started = time.perf_counter()
    classify(text)
    return time.perf_counter() - started


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param("x" * 5_000_000, id="5 MB single line"),
        pytest.param("\n" * 500_000, id="500,000 newlines"),
        pytest.param(("word " * 1_000_000), id="5 MB line of words"),
        pytest.param("\u0301" * 1_000_000, id="a million combining marks"),
    ],
)
def test_hostile_input_takes_no_longer_than_ordinary_text_of_its_size(hostile):
    ordinary = ("The council approved the budget on Tuesday after a long debate.\n" * 100_000)[: len(hostile)]

    baseline = min(_seconds(ordinary) for _ in range(2))
    elapsed = min(_seconds(hostile) for _ in range(2))

    assert elapsed < 3 * baseline + 0.1


def test_time_grows_linearly_with_page_size():
    page = "The council approved the budget on Tuesday after a long debate.\nSubscribe now.\n" * 4_000

    small = min(_seconds(page) for _ in range(3))
    large = min(_seconds(page * 10) for _ in range(2))

    assert large < 10 * small * 2.0  # linear, with room for a noisy shared machine


@pytest.mark.parametrize("value", [None, b"bytes", 42, ["a list"], 4.5])
def test_non_strings_raise_type_error_naming_str(value):
    with pytest.raises(TypeError, match="must be str"):
        classify(value)  # type: ignore[arg-type]


def test_classify_many_with_a_bad_item_in_the_middle_keeps_what_came_before():
    stream = ["First page.", "Second page.", 42, "Fourth page."]

    yielded = []
    with pytest.raises(TypeError, match="item 2 of the stream must be str, got int"):
        for result in classify_many(stream):  # type: ignore[arg-type]
            yielded.append(result)

    assert [[b.text for b in page] for page in yielded] == [["First page."], ["Second page."]]


def test_classify_many_skip_marks_every_bad_item():
    stream = [b"bytes", "ok", None, "ok again"]

    results = list(classify_many(stream, errors="skip"))  # type: ignore[arg-type]

    assert [type(r).__name__ for r in results] == ["ItemError", "list", "ItemError", "list"]
    assert [r.index for r in results if isinstance(r, ItemError)] == [0, 2]


def test_classify_many_refuses_an_unknown_errors_mode():
    with pytest.raises(ValueError, match="errors must be 'raise' or 'skip'"):
        list(classify_many(["x"], errors="ignore"))  # type: ignore[arg-type]


def test_cli_names_the_byte_offset_of_undecodable_input():
    result = subprocess.run(
        [sys.executable, "-m", "paysift", "clean", "-"], input=b"Good text\n\xc3\x28 broken", capture_output=True
    )

    assert result.returncode == 2
    assert result.stderr.decode() == "paysift: standard input: not valid UTF-8 at byte offset 10 (byte 0xc3)\n"


def test_a_50_mb_page_is_classified_in_linear_time():
    from conftest import REPO

    from paysift.corpus import load_pages

    stream = "\n".join(page.text for page in load_pages([REPO / "training_data"]))
    five = stream * (5_000_000 // len(stream) + 1)
    five = five[: five.rindex("\n", 0, 5_000_000)]
    fifty = "\n".join([five] * 10)

    small = min(_seconds(five) for _ in range(2))
    started = time.perf_counter()
    blocks = classify(fifty)
    large = time.perf_counter() - started

    assert large < 10 * small * 2.0
    assert len(blocks) == 10 * len(classify(five))
    for block in blocks[:: max(1, len(blocks) // 1000)]:
        assert fifty[block.start : block.end] == block.text
