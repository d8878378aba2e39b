"""Shared fixtures: paths of the repository and of the optional ../shared folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EXAMPLE = REPO / "examples" / "harbour-gazette.txt"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (real pages, seed example); skip when absent."""
    if not (SHARED / "LABELING.md").exists():
        pytest.skip("../shared is not beside this checkout")
    return SHARED


def write_random_model(directory: Path, labels=("article", "paywall", "pricing", "disclaimer"), bits: int = 8) -> Path:
    """A well-formed model with random weights: for tests of model files, not of accuracy."""
    import numpy as np

    from paysift.features import SHAPE_FEATURES, FeatureSettings, n_context_features
    from paysift.model import save_model

    rng = np.random.default_rng(0)
    n, n_shape, n_context = len(labels), len(SHAPE_FEATURES), n_context_features(len(labels))
    arrays = {
        "hashed": rng.normal(size=(1 << bits, n)).astype(np.float32),
        "shape": rng.normal(size=(n_shape, n)),
        "shape_mean": np.zeros(n_shape),
        "shape_scale": np.ones(n_shape),
        "intercept": np.zeros(n),
        "context": rng.normal(size=(n_context, n)),
        "context_mean": np.zeros(n_context),
        "context_scale": np.ones(n_context),
        "context_intercept": np.zeros(n),
    }
    manifest = {"labels": list(labels), "features": FeatureSettings(hash_bits=bits).to_json()}
    save_model(directory, arrays, manifest)
    return directory
