"""The two baselines paysift is measured against, in the same run, on the same lines.

1. ``KeywordFilter``: a line filter in the style of the C4 / FineWeb heuristics: a
   phrase list (subscribe, sign in, cookie, privacy, terms, copyright, disclaimer,
   per-month prices) in the languages of the corpus. No training.
2. ``SklearnBaseline``: scikit-learn's ``HashingVectorizer`` (word 1-2-grams and
   ``char_wb`` 2-5-grams) with ``LogisticRegression``, trained on the same pages,
   one block at a time, no context.

Both return blocks from paysift's own segmenter, so only the labelling differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import regex

from paysift.corpus import Page
from paysift.segment import split_paragraphs


@dataclass(frozen=True)
class Labelled:
    """A block as the baselines give it: enough for paysift.evaluate."""

    text: str
    label: str
    start: int
    end: int


_DISCLAIMER = regex.compile(
    r"cookie|privacy|terms (of|and) (use|service|conditions)|copyright|©|all rights reserved|disclaimer|"
    r"affiliate|do not sell|impressum|datenschutz|\bagb\b|nutzungsbedingungen|alle rechte vorbehalten|"
    r"mentions légales|données personnelles|confidentialité|\bcg[uv]\b|tous droits réservés|"
    r"política de privacidad|aviso legal|términos y condiciones|todos los derechos reservados|"
    r"informativa|riproduzione riservata|tutti i diritti riservati|política de privacidade|"
    r"todos os direitos reservados|termos de uso|privacyverklaring|alle rechten voorbehouden|algemene voorwaarden",
    regex.IGNORECASE,
)
_PRICE = regex.compile(
    r"\p{Sc}\s?\d|\d\s?\p{Sc}|\b\d+[.,]?\d*\s?(eur|usd|chf|kr|zł|rs|inr)\b|"
    r"(per|a|/)\s?(month|week|year|mo)\b|im monat|pro monat|par mois|al mes\b|al mese|por mês|per maand|"
    r"cancel any ?time|renews automatically|billed (annually|monthly)|jederzeit kündbar|sans engagement|"
    r"cancela cuando quieras|disdici quando vuoi|cancele quando quiser|maandelijks opzegbaar",
    regex.IGNORECASE,
)
_PAYWALL = regex.compile(
    r"subscri|sign ?in|log ?in|sign ?up|register|newsletter|free articles?|unlimited access|"
    r"support (our|independent) journalism|donat|abonn|\babo\b|anmelden|einloggen|registrieren|weiterlesen|"
    r"se connecter|inscri|suscr|inicia sesión|regístrate|abbona|accedi|assin|entrar\b|inloggen|word lid",
    regex.IGNORECASE,
)


class KeywordFilter:
    """C4 / FineWeb-style phrase rules: the first category whose phrases match wins."""

    name = "keyword filter"

    def classify(self, text: str) -> list[Labelled]:
        return [Labelled(text[a:b], self.label(text[a:b]), a, b) for a, b in split_paragraphs(text)]

    @staticmethod
    def label(block: str) -> str:
        if _DISCLAIMER.search(block):
            return "disclaimer"
        if _PRICE.search(block):
            return "pricing"
        if _PAYWALL.search(block):
            return "paywall"
        return "article"


def _vectorizers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import HashingVectorizer

    words = HashingVectorizer(analyzer="word", ngram_range=(1, 2), n_features=1 << 18, alternate_sign=False)
    chars = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), n_features=1 << 18, alternate_sign=False)
    return words, chars


class SklearnBaseline:
    """HashingVectorizer (word 1-2 + char_wb 2-5) and LogisticRegression, block by block."""

    name = "scikit-learn baseline"

    def __init__(self, labels: Sequence[str], c: float = 10.0) -> None:
        self.labels = tuple(labels)
        self.c = c
        self.words, self.chars = _vectorizers()
        self.classifier: Any = None

    def features(self, blocks: Sequence[str]) -> Any:
        from scipy import sparse

        return sparse.hstack((self.words.transform(blocks), self.chars.transform(blocks)), format="csr")

    def fit(self, pages: Sequence[Page]) -> SklearnBaseline:
        from sklearn.linear_model import LogisticRegression

        texts, y = [], []
        for page in pages:
            spans, gold = page.block_labels()
            texts.extend(page.text[a:b] for a, b in spans)
            y.extend(self.labels.index(label) for label in gold if label is not None)
        self.classifier = LogisticRegression(C=self.c, max_iter=2000, tol=1e-4).fit(self.features(texts), np.array(y))
        return self

    def classify(self, text: str) -> list[Labelled]:
        spans = split_paragraphs(text)
        if not spans:
            return []
        predicted = self.classifier.predict(self.features([text[a:b] for a, b in spans]))
        return [Labelled(text[a:b], self.labels[k], a, b) for (a, b), k in zip(spans, predicted)]
