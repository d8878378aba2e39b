from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from conftest import write_random_model

from paysift import ModelError, classify, load_model
from paysift.model import MANIFEST_FILE, WEIGHTS_FILE


def test_saved_model_loads_and_classifies(tmp_path):
    model = load_model(write_random_model(tmp_path / "m"))

    blocks = classify("One line.\nAnother line.", model=model)

    assert model.labels == ("article", "paywall", "pricing", "disclaimer")
    assert len(blocks) == 2 and all(b.label in model.labels for b in blocks)


def test_writing_is_deterministic(tmp_path):
    first = write_random_model(tmp_path / "a") / WEIGHTS_FILE
    second = write_random_model(tmp_path / "b") / WEIGHTS_FILE

    assert first.read_bytes() == second.read_bytes()


def test_missing_folder_names_the_manifest(tmp_path):
    with pytest.raises(ModelError, match=f"{MANIFEST_FILE}: missing"):
        load_model(tmp_path / "nowhere")


def test_wrong_format_version_is_refused(tmp_path):
    path = write_random_model(tmp_path / "m")
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest["format_version"] = 99
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))

    with pytest.raises(ModelError, match="unknown model format version 99"):
        load_model(path)


def test_truncated_weights_are_refused(tmp_path):
    path = write_random_model(tmp_path / "m")
    data = (path / WEIGHTS_FILE).read_bytes()
    (path / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])

    with pytest.raises(ModelError, match=rf"{WEIGHTS_FILE}: sha256 mismatch"):
        load_model(path)


def test_tampered_weights_are_refused(tmp_path):
    path = write_random_model(tmp_path / "m")
    data = bytearray((path / WEIGHTS_FILE).read_bytes())
    data[-100] ^= 0xFF
    (path / WEIGHTS_FILE).write_bytes(bytes(data))

    with pytest.raises(ModelError, match="sha256 mismatch"):
        load_model(path)


def _rewrite_weights(path, change):
    """Rewrite model.npz through ``change(arrays)`` and fix the manifest's hash,
    as an attacker or a careless tool would."""
    import hashlib

    with np.load(path / WEIGHTS_FILE, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    change(arrays)
    with zipfile.ZipFile(path / WEIGHTS_FILE, "w") as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as stream:
                np.lib.format.write_array(stream, array, allow_pickle=True)
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest["weights_sha256"] = hashlib.sha256((path / WEIGHTS_FILE).read_bytes()).hexdigest()
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_missing_array_is_named(tmp_path):
    path = write_random_model(tmp_path / "m")
    _rewrite_weights(path, lambda arrays: arrays.pop("context"))

    with pytest.raises(ModelError, match="missing array 'context'"):
        load_model(path)


def test_wrong_shape_is_named(tmp_path):
    path = write_random_model(tmp_path / "m")
    _rewrite_weights(path, lambda arrays: arrays.update(intercept=np.zeros(7)))

    with pytest.raises(ModelError, match=r"array 'intercept' has shape \(7,\)"):
        load_model(path)


def test_pickled_arrays_are_never_loaded(tmp_path):
    path = write_random_model(tmp_path / "m")
    _rewrite_weights(path, lambda arrays: arrays.update(intercept=np.array([object()] * 4, dtype=object)))

    with pytest.raises(ModelError, match="unreadable weights"):
        load_model(path)


def test_a_model_with_a_label_of_its_own_works_end_to_end(tmp_path):
    labels = ("article", "paywall", "pricing", "disclaimer", "newsletter")
    model = load_model(write_random_model(tmp_path / "m", labels=labels))

    (block,) = classify("Sign up for our morning newsletter", model=model)

    assert set(block.scores) == set(labels)
    assert block.label in labels
    assert sum(block.scores.values()) == pytest.approx(1.0)


def test_failed_write_leaves_the_previous_model_whole(tmp_path, monkeypatch):
    import paysift.model as model_module

    path = write_random_model(tmp_path / "m")
    before = (path / WEIGHTS_FILE).read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model_module, "_write_npz", crash)
    with pytest.raises(OSError, match="disk full"):
        write_random_model(tmp_path / "m", bits=9)

    assert (path / WEIGHTS_FILE).read_bytes() == before
    assert load_model(path).settings.hash_bits == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
