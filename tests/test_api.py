from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest
from conftest import EXAMPLE, write_random_model
from hypothesis import given, settings
from hypothesis import strategies as st

from paysift import Block, ItemError, WorkerError, classify, classify_many, clean, default_model, load_model, workers
from paysift.api import BATCH_PAGES, LOCAL_AHEAD, WORKER_QUEUE

LABELS = set(default_model().labels)


def test_obvious_paragraphs_get_their_label():
    text = (
        "The council approved the new budget on Tuesday after a four-hour debate.\n"
        "Subscribe to continue reading.\n"
        "$4.99 per month, cancel anytime\n"
        "© 2026 Example Media. All rights reserved.\n"
    )

    assert [block.label for block in classify(text)] == ["article", "paywall", "pricing", "disclaimer"]


def test_blocks_are_frozen_and_carry_all_scores():
    (block,) = classify("Already a subscriber? Sign in to keep reading.")

    assert isinstance(block, Block)
    assert set(block.scores) == LABELS
    assert block.score == max(block.scores.values())
    assert block.scores[block.label] == block.score
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.label = "article"  # type: ignore[misc]


@pytest.mark.parametrize(("value", "kind"), [(None, "NoneType"), (b"bytes", "bytes"), (42, "int"), (["a"], "list")])
def test_non_strings_are_refused_with_a_type_error_naming_str(value, kind):
    with pytest.raises(TypeError, match=rf"must be str, got {kind}"):
        classify(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be str"):
        clean(value)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_string_gets_one_label_per_block_with_exact_offsets(text):
    blocks = classify(text)

    previous_end = -1
    for block in blocks:
        assert text[block.start : block.end] == block.text
        assert previous_end < block.start < block.end
        assert block.label in LABELS
        assert 0.0 <= block.score <= 1.0
        assert sum(block.scores.values()) == pytest.approx(1.0)
        previous_end = block.end
    covered = {i for block in blocks for i in range(block.start, block.end)}
    assert all(text[i].isspace() for i in range(len(text)) if i not in covered)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["Subscribe now.", "₹900", "The mayor said no.", "  ", "© 2026"]), max_size=12))
def test_classification_is_deterministic(lines):
    text = "\n".join(lines)

    assert classify(text) == classify(text)


def test_clean_keeps_only_the_story_of_the_example_page():
    text = EXAMPLE.read_text(encoding="utf-8")

    cleaned = clean(text).splitlines()

    assert cleaned[0] == "Ferry operator fined over cancelled winter sailings"
    assert cleaned[-1].startswith("The fine will be paid into a fund")
    assert len(cleaned) == 8
    assert not any(re.search(r"Subscribe|cookies|£7\.99|All rights reserved", line) for line in cleaned)


def test_the_seed_example_comes_out_right_line_by_line(shared_dir):
    """The seed page labeled as ../shared/LABELING.md says: 20 story lines, the
    disclaimer, 4 paywall lines, the 13 lines of the price card (three plans of
    four lines, then the renewal term), then the benefit list (paywall)."""
    text = (shared_dir / "seed-example.txt").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    expected = ["article"] * 20 + ["disclaimer"] + ["paywall"] * 4 + ["pricing"] * 13
    expected += ["paywall"] * (len(lines) - len(expected))

    predicted = [block.label for block in classify(text)]

    assert len(predicted) == len(lines)
    wrong = [(number, want, got) for number, (want, got) in enumerate(zip(expected, predicted)) if want != got]
    assert wrong == []


def _same(one: list[Block], other: list[Block]) -> bool:
    """Same blocks and labels; scores equal up to float rounding (batches go through
    BLAS in other shapes, which may round the last bit differently)."""
    return [(b.text, b.label, b.start, b.end) for b in one] == [(b.text, b.label, b.start, b.end) for b in other] and all(
        b.score == pytest.approx(c.score, abs=1e-9) for b, c in zip(one, other)
    )


def test_classify_many_keeps_order_and_matches_classify():
    pages = [f"Story number {i} says the mayor of Brill resigned on Monday.\nSubscribe to keep reading." for i in range(150)]
    pages[7] = "A page of its own.\n\n\nWith three blocks\r\nand odd breaks"

    results = list(classify_many(pages))
    parallel = list(classify_many(pages, n_jobs=2))

    assert all(_same(result, classify(page)) for result, page in zip(results, pages))
    assert all(_same(one, other) for one, other in zip(parallel, results))
    assert len(results) == len(parallel) == 150


@pytest.mark.parametrize(
    ("n_jobs", "most_read"),
    [
        (1, BATCH_PAGES),
        # each worker's queue, the batches this process predicts itself, and one in hand
        (3, (2 * 2 * WORKER_QUEUE + LOCAL_AHEAD + 1) * BATCH_PAGES),
    ],
)
def test_classify_many_reads_the_stream_lazily(n_jobs, most_read):
    consumed = []

    def pages():
        for i in range(100_000):
            consumed.append(i)
            yield f"Page {i}"

    stream = classify_many(pages(), n_jobs=n_jobs)
    next(stream)
    stream.close()

    assert len(consumed) <= most_read


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_bad_item_raises_naming_its_position(n_jobs):
    results = []
    with pytest.raises(TypeError, match="item 2 of the stream must be str, got bytes"):
        for result in classify_many(["one", "two", b"three", "four"], n_jobs=n_jobs):
            results.append(result)

    assert len(results) == 2  # what was yielded before the bad item is kept


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_errors_skip_yields_a_marker_and_carries_on(n_jobs):
    results = list(classify_many(["one", None, "three"], n_jobs=n_jobs, errors="skip"))  # type: ignore[list-item]

    assert isinstance(results[1], ItemError) and results[1].index == 1
    assert "must be str, got NoneType" in results[1].message
    assert [b.text for b in results[2]] == ["three"]  # type: ignore[union-attr]


def test_importing_paysift_and_classifying_never_imports_scikit_learn():
    code = "import sys, paysift; paysift.classify('Subscribe now'); print('sklearn' in sys.modules, 'scipy' in sys.modules)"

    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert output.strip() == "False False"


def test_the_fast_block_maker_builds_the_same_frozen_block():
    from paysift.types import make_block

    made = make_block("Subscribe", "paywall", 0.9, {"article": 0.1, "paywall": 0.9}, 3, 12)

    assert made == Block("Subscribe", "paywall", 0.9, {"article": 0.1, "paywall": 0.9}, 3, 12)
    assert repr(made) == repr(Block("Subscribe", "paywall", 0.9, {"article": 0.1, "paywall": 0.9}, 3, 12))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.text = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("line", "label"),
    [
        ("The council approved the new budget on Tuesday after a long debate.", "article"),
        ("Subscribe now", "paywall"),
        ("£1 for 3 months", "pricing"),
        ("© 2026 Example Media Ltd. All rights reserved.", "disclaimer"),
    ],
)
def test_a_page_of_one_line_is_labelled_from_its_own_text(line, label):
    (block,) = classify(line)

    assert block.label == label


def test_three_jobs_and_an_abandoned_stream_leave_the_workers_reusable():
    pages = [f"Page {i}: the council met on Tuesday.\nSubscribe for $1 a week." for i in range(2000)]
    expected = list(classify_many(pages))

    abandoned = classify_many(pages, n_jobs=3)
    next(abandoned)
    abandoned.close()  # the workers still hold batches: they are drained, not left out of step

    assert all(_same(one, other) for one, other in zip(classify_many(pages, n_jobs=3), expected, strict=True))


def test_workers_use_the_callers_model(tmp_path):
    model = load_model(write_random_model(tmp_path / "random"))
    pages = [f"Paragraph {i} of a page.\nSubscribe now.\n© 2026 Example" for i in range(300)]

    parallel = list(classify_many(pages, model=model, n_jobs=2))
    shipped_again = list(classify_many(pages, n_jobs=2))  # the next call goes back to the shipped model

    assert all(_same(one, other) for one, other in zip(parallel, classify_many(pages, model=model), strict=True))
    assert all(_same(one, other) for one, other in zip(shipped_again, classify_many(pages), strict=True))


def test_pages_larger_than_the_pipes_pass_through_the_workers():
    # each request and answer is many times a pipe's capacity: neither side may block the other
    page = "The mayor spoke at length about the harbour. " * 200 + "\nSubscribe for $1 a week.\n"
    pages = [page * 300 for _ in range(6)]  # about 2.8 MB each

    assert all(_same(one, other) for one, other in zip(classify_many(pages, n_jobs=2), classify_many(pages), strict=True))


def test_where_select_cannot_poll_pipes_joblib_does_the_work(monkeypatch):
    monkeypatch.setattr(workers, "SUPPORTED", False)
    pages = [f"Page {i}: the council met.\nSubscribe for $1 a week." for i in range(600)]

    assert all(_same(one, other) for one, other in zip(classify_many(pages, n_jobs=2), classify_many(pages), strict=True))


def test_a_worker_that_dies_mid_stream_raises_a_clear_error_and_is_replaced(monkeypatch):
    borrowed = []
    borrow = workers.borrow
    monkeypatch.setattr(workers, "borrow", lambda count: borrowed.extend(borrow(count)) or borrowed)
    pages = [f"Page {i}: the council met.\nSubscribe for $1 a week." for i in range(3000)]
    stream = classify_many(pages, n_jobs=2)
    next(stream)
    borrowed[0]._process.kill()

    with pytest.raises(WorkerError, match="exited unexpectedly"):
        list(stream)
    monkeypatch.undo()
    assert len(list(classify_many(pages, n_jobs=2))) == 3000  # a new worker took the dead one's place
