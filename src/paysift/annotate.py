"""Pre-label a page in the training format, so adding a publisher starts from the
model's guesses and the user checks the least confident blocks first."""

from __future__ import annotations

from .api import classify
from .model import LinearModel, default_model
from .segment import LINE_BREAKS

CHECK_MARK = "# CHECK"  # comment line put above each block the user should look at first


def annotate(text: str, *, model: LinearModel | None = None, publisher: str = "UNKNOWN", lang: str = "en",
             review: int = 5) -> str:
    """``text`` as a page file: a header, then ``label | text`` per block, blank
    lines kept, and a ``# CHECK`` comment above the ``review`` least confident blocks."""
    model = model or default_model()
    blocks = classify(text, model=model)
    doubtful = {id(block) for block in sorted(blocks, key=lambda block: block.score)[:review]}
    digest = str(model.manifest.get("weights_sha256", "unknown"))[:12]
    lines = [
        f"# publisher: {publisher}",
        f"# lang: {lang}",
        f"# source: pre-labeled by paysift annotate (model {digest}); check every '{CHECK_MARK}' block first",
    ]
    if "\r\n" in text:
        lines.append("# newline: crlf")
    lines.append("")  # ends the header, so a CHECK comment on the first block is not read as one
    previous_end = 0
    for block in blocks:
        # two or more line breaks between blocks: the page has a blank line there
        gap = text[previous_end : block.start].replace("\r\n", "\n")
        if previous_end and sum(gap.count(char) for char in LINE_BREAKS) > 1:
            lines.append("")
        if id(block) in doubtful:
            lines.append(f"{CHECK_MARK}: {block.label} at {block.score:.2f}, "
                         + ", ".join(f"{label} {p:.2f}" for label, p in block.scores.items() if label != block.label))
        lines.append(f"{block.label} | {block.text}")
        previous_end = block.end
    return "\n".join(lines) + "\n"
