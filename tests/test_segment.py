from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paysift.segment import LINE_BREAKS, paragraph_spans, split_paragraphs


def test_blocks_are_stripped_lines_with_exact_offsets():
    text = "  Headline  \r\n\r\nBody one.\rBody two.\u2028\tTail\t"

    spans = split_paragraphs(text)

    assert [text[a:b] for a, b in spans] == ["Headline", "Body one.", "Body two.", "Tail"]
    assert spans[0] == (2, 10)


@pytest.mark.parametrize("newline", list(LINE_BREAKS) + ["\r\n"])
def test_every_kind_of_line_break_ends_a_block(newline):
    assert [(0, 3), (3 + len(newline), 6 + len(newline))] == split_paragraphs(f"one{newline}two")


def test_blank_and_whitespace_only_input_has_no_blocks():
    assert split_paragraphs("") == []
    assert split_paragraphs(" \t\n\r\n\u2029\x0b\x0c  \n") == []


def test_non_breaking_and_zero_width_characters_stay_inside_blocks():
    text = "a\u00a0b\u200bc"

    assert split_paragraphs(text) == [(0, 5)]


@given(st.text(alphabet=st.sampled_from(list("ab \t\u00a0") + list(LINE_BREAKS)), max_size=200) | st.text(max_size=200))
def test_blocks_cover_all_non_blank_text_in_order_without_overlap(text):
    spans = split_paragraphs(text)

    covered = set()
    previous_end = -1
    for start, end in spans:
        assert previous_end < start < end
        block = text[start:end]
        assert block == block.strip() and block
        assert not any(char in LINE_BREAKS for char in block)
        covered.update(range(start, end))
        previous_end = end
    assert all(text[i].isspace() for i in range(len(text)) if i not in covered)
    assert paragraph_spans(text).tolist() == [list(span) for span in spans]
    assert paragraph_spans(text).shape == (len(spans), 2)


@pytest.mark.parametrize(
    "hostile",
    [
        "x" * 5_000_000,
        "\n" * 500_000,
        ("word " * 1_000_000) + "\n",
        " " * 2_000_000 + "x",
        "\r\n" * 300_000,
    ],
    ids=["5MB-line", "500k-newlines", "5MB-spaces-in-line", "2M-leading-spaces", "crlf-only"],
)
def test_segmentation_is_linear_on_hostile_input(hostile):
    ordinary = ("An ordinary paragraph of news text, with a quote.\n" * 100_000)[: len(hostile)]
    started = time.perf_counter()
    split_paragraphs(ordinary)
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    split_paragraphs(hostile)
    elapsed = time.perf_counter() - started

    # linear: the same order of time as ordinary text of that size, never quadratic
    assert elapsed < 10 * baseline + 0.05
