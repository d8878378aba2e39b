"""The examples in docstrings run and give what they say."""

from __future__ import annotations

import doctest

import pytest

import paysift.api
import paysift.segment


@pytest.mark.parametrize("module", [paysift.api, paysift.segment])
def test_docstring_examples(module):
    failures, tried = doctest.testmod(module)

    assert tried > 0 and failures == 0
