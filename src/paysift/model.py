"""The linear block classifier: its weights, how it scores a page, and how it is
read from and written to disk without pickle.

A model is a folder with ``model.npz`` (numpy arrays only, loaded with
``allow_pickle=False``) and ``manifest.json`` (labels, feature settings, format
version, the sha256 of ``model.npz``, what it was trained on and how it scored).
Scoring is two linear passes in numpy: hashed n-grams and shape features give
first-pass probabilities; a second pass reads them with those of the
neighbouring blocks. scikit-learn is never imported here.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ModelError
from .features import SHAPE_FEATURES, FeatureSettings, HashedGroup, context_features, n_context_features, page_features

# 2: character n-grams hashed from 16-bit folded characters (version 1 models
# index other buckets and must be retrained)
# 3: Han and kana characters are words of their own, and Arabic, Chinese and
# Japanese sentence ends count as ends (version 2 models must be retrained)
FORMAT_VERSION = 3
WEIGHTS_FILE = "model.npz"
MANIFEST_FILE = "manifest.json"
DEFAULT_MODEL_DIR = ("models", "default")
_AT_FDCWD = -100  # renameat2: paths relative to the working directory
_RENAME_EXCHANGE = 2  # renameat2: swap the two paths atomically


def _expected_shapes(n_labels: int, settings: FeatureSettings) -> dict[str, tuple[int, ...]]:
    n_shape = len(SHAPE_FEATURES)
    n_context = n_context_features(n_labels)
    return {
        "hashed": (settings.n_hashed, n_labels),
        "shape": (n_shape, n_labels),
        "shape_mean": (n_shape,),
        "shape_scale": (n_shape,),
        "intercept": (n_labels,),
        "context": (n_context, n_labels),
        "context_mean": (n_context,),
        "context_scale": (n_context,),
        "context_intercept": (n_labels,),
    }


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs: npt.NDArray[np.float64] = shifted / shifted.sum(axis=1, keepdims=True)
    return probs


def _segment_sums(weights: npt.NDArray[np.float32], group: HashedGroup) -> npt.NDArray[np.float64]:
    """Sum the weight rows of every block's items, scaled by the block's norm."""
    kinds, items = group.index.shape
    # one spare zero row, so that segment starts equal to `items` stay in range
    gathered = np.empty((items + 1, weights.shape[1]), dtype=weights.dtype)
    gathered[items] = 0.0
    np.take(weights, group.index[0], axis=0, out=gathered[:items])
    for kind in range(1, kinds):
        gathered[:items] += weights.take(group.index[kind], axis=0)
    sums = np.add.reduceat(gathered, group.segments, axis=0)
    if group.empty is not None:
        sums[group.empty] = 0.0  # reduceat gives a row, not zero, for an empty segment
    return sums * group.scale[:, None]


@dataclass(frozen=True, eq=False)
class LinearModel:
    """A trained model; get one from ``load_model`` or ``default_model``."""

    labels: tuple[str, ...]
    settings: FeatureSettings
    arrays: dict[str, npt.NDArray[Any]] = field(repr=False)
    manifest: dict[str, Any] = field(repr=False)
    path: Path | None = None

    def __post_init__(self) -> None:
        arrays = self.arrays
        # one extra, always-zero row: the bucket of "no item here". float32, as on
        # disk: gathering rows at random from a table half the size is 25% faster
        # (the table is 4 MB, and more of it stays in the CPU caches)
        hashed = arrays["hashed"].astype(np.float32)
        object.__setattr__(self, "_hashed", np.vstack((hashed, np.zeros((1, hashed.shape[1]), np.float32))))
        # standardising x then multiplying by W is x @ (W / scale) - (mean / scale) @ W:
        # folded into the weights once here instead of on every page
        for prefix, intercept in (("shape", "intercept"), ("context", "context_intercept")):
            weights = arrays[prefix] / arrays[f"{prefix}_scale"][:, None]
            bias = arrays[intercept] - (arrays[f"{prefix}_mean"] @ weights)
            object.__setattr__(self, f"_{prefix}", (weights, bias))

    def __reduce__(self) -> tuple[Any, ...]:
        # a model read from disk travels to joblib workers as its path, not its weights
        if self.path is not None:
            return (_load_cached, (str(self.path), self.manifest.get("weights_sha256")))
        return (LinearModel, (self.labels, self.settings, self.arrays, self.manifest, None))

    def first_pass(
        self, text: str, spans: Sequence[tuple[int, int]] | npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """First-pass logits and shape features of the blocks ``spans`` of ``text``."""
        n_labels = len(self.labels)
        logits = np.empty((len(spans), n_labels))
        shape = np.empty((len(spans), len(SHAPE_FEATURES)))
        hashed: npt.NDArray[np.float32] = self._hashed  # type: ignore[attr-defined]
        shape_weights, intercept = self._shape  # type: ignore[attr-defined]
        for chunk in page_features(text, spans, self.settings):
            rows = slice(chunk.first_block, chunk.first_block + len(chunk.shape))
            np.matmul(chunk.shape, shape_weights, out=logits[rows])
            for group in chunk.groups:
                logits[rows] += _segment_sums(hashed, group)
            shape[rows] = chunk.shape
        logits += intercept
        return logits, shape

    def second_pass(
        self,
        first_probs: npt.NDArray[np.float64],
        shape: npt.NDArray[np.float64],
        page_first: npt.NDArray[np.intp] | None = None,
        page_stop: npt.NDArray[np.intp] | None = None,
    ) -> npt.NDArray[np.float64]:
        """Final probabilities from first-pass probabilities in page context."""
        weights, intercept = self._context  # type: ignore[attr-defined]
        probs = np.empty_like(first_probs)
        for rows, features in context_features(first_probs, shape, page_first, page_stop):
            probs[rows] = _softmax(features @ weights + intercept)
        return probs

    def predict_proba(
        self,
        text: str,
        spans: Sequence[tuple[int, int]] | npt.NDArray[np.intp],
        page_first: npt.NDArray[np.intp] | None = None,
        page_stop: npt.NDArray[np.intp] | None = None,
    ) -> npt.NDArray[np.float64]:
        """Probabilities, one row per block of ``spans`` and one column per label.

        ``text`` may hold several pages; ``page_first[i]`` and ``page_stop[i]``
        then bound the blocks of block ``i``'s page, so context never crosses pages.
        """
        if len(spans) == 0:
            return np.zeros((0, len(self.labels)))
        logits, shape = self.first_pass(text, spans)
        return self.second_pass(_softmax(logits), shape, page_first, page_stop)


def _write_npz(path: Path, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Write an npz whose bytes depend only on the arrays (no timestamps, no compression)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            archive.writestr(info, buffer.getvalue())


def save_model(directory: Path, arrays: dict[str, npt.NDArray[Any]], manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``model.npz`` and ``manifest.json`` into ``directory`` atomically;
    returns the manifest as written (with format version and weights hash).

    Both files are written into a temporary folder beside ``directory`` that is
    renamed into place, so an interrupted run leaves the previous model whole.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        _write_npz(staging / WEIGHTS_FILE, arrays)
        digest = hashlib.sha256((staging / WEIGHTS_FILE).read_bytes()).hexdigest()
        manifest = {**manifest, "format_version": FORMAT_VERSION, "weights_sha256": digest}
        text = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        (staging / MANIFEST_FILE).write_text(text, encoding="utf-8")
        os.chmod(staging, 0o755)
        if directory.exists():
            _swap_into_place(staging, directory)
        else:
            os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # after a swap, this holds the old model
    return manifest


def _swap_into_place(staging: Path, directory: Path) -> None:
    """Exchange two folders in one step, so ``directory`` always holds a whole model.

    Linux's renameat2(RENAME_EXCHANGE) does it atomically; elsewhere the old
    folder is moved aside first, which leaves a moment with no model at all.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        exchanged = libc.renameat2(_AT_FDCWD, os.fsencode(staging), _AT_FDCWD, os.fsencode(directory), _RENAME_EXCHANGE) == 0
    except (AttributeError, OSError):
        exchanged = False
    if not exchanged:
        aside = staging.with_name(staging.name + ".old")
        os.replace(directory, aside)
        os.replace(staging, directory)
        os.replace(aside, staging)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: missing: not a paysift model folder") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ModelError(f"{path}: manifest is not a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(f"{path}: unknown model format version {version!r}, this paysift reads {FORMAT_VERSION}")
    return manifest


def load_model(directory: str | os.PathLike[str]) -> LinearModel:
    """Read the model in ``directory``, checking its format version and weights hash.

    Raises:
        ModelError: a file is missing, truncated, tampered with or of another format.
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST_FILE
    weights_path = directory / WEIGHTS_FILE
    manifest = _read_manifest(manifest_path)
    try:
        labels = tuple(manifest["labels"])
        settings = FeatureSettings.from_json(manifest["features"])
        expected_digest = manifest["weights_sha256"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{manifest_path}: bad or missing field: {exc}") from exc
    if not labels or not all(isinstance(label, str) and label for label in labels) or len(set(labels)) != len(labels):
        raise ModelError(f"{manifest_path}: labels must be distinct non-empty strings, got {list(labels)!r}")
    try:
        data = weights_path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{weights_path}: cannot read weights: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_digest:
        raise ModelError(
            f"{weights_path}: sha256 mismatch (file {digest[:12]}..., manifest {str(expected_digest)[:12]}...): "
            "the weights are truncated or were changed after training"
        )
    shapes = _expected_shapes(len(labels), settings)
    arrays: dict[str, npt.NDArray[Any]] = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            for name, shape in shapes.items():
                if name not in npz.files:
                    raise ModelError(f"{weights_path}: missing array {name!r}")
                array = npz[name]
                if array.shape != shape or array.dtype.kind != "f":
                    raise ModelError(
                        f"{weights_path}: array {name!r} has shape {array.shape} and dtype {array.dtype}, "
                        f"expected float {shape}"
                    )
                arrays[name] = array.astype(np.float32 if name == "hashed" else np.float64)
    except ModelError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{weights_path}: unreadable weights: {exc}") from exc
    return LinearModel(labels, settings, arrays, manifest, directory.resolve())


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, digest: str | None) -> LinearModel:
    model = load_model(path)
    if digest is not None and model.manifest.get("weights_sha256") != digest:
        raise ModelError(f"{path}: the model changed on disk while it was in use")
    return model


def default_model_dir() -> Path:
    """Folder of the shipped model: inside the installed package, or in the source tree."""
    packaged = resources.files("paysift").joinpath(*DEFAULT_MODEL_DIR)
    if packaged.is_dir():
        return Path(str(packaged))
    # an editable install runs from src/paysift; the model lives at the repository top
    return Path(__file__).resolve().parents[2].joinpath(*DEFAULT_MODEL_DIR)


@functools.cache
def default_model() -> LinearModel:
    """The model shipped with paysift, loaded on first use and then reused."""
    return load_model(default_model_dir())
