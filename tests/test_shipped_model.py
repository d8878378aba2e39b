"""The shipped model is exactly what `paysift train training_data --out models/default`
produces, and the wheel carries it. Both are slow: they retrain or build."""

from __future__ import annotations

import json
import subprocess
import sys
import venv

import pytest
from conftest import EXAMPLE, REPO

from paysift.model import MANIFEST_FILE, WEIGHTS_FILE

pytest.importorskip("sklearn")


@pytest.mark.slow
def test_retraining_reproduces_the_shipped_model_byte_for_byte(tmp_path):
    shipped = REPO / "models" / "default"

    subprocess.run(
        [sys.executable, "-m", "paysift.train", str(REPO / "training_data"), "--out", str(tmp_path / "default"), "--quiet"],
        check=True,
    )

    retrained = json.loads((tmp_path / "default" / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest = json.loads((shipped / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert retrained["training_data"]["digest"] == manifest["training_data"]["digest"]
    assert retrained["weights_sha256"] == manifest["weights_sha256"]
    assert (tmp_path / "default" / WEIGHTS_FILE).read_bytes() == (shipped / WEIGHTS_FILE).read_bytes()


@pytest.mark.slow
def test_the_wheel_carries_the_model_into_a_fresh_environment(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(REPO)],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("paysift-*.whl")
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True)

    code = (
        "import sys, paysift; from paysift.model import default_model_dir; "
        "print(default_model_dir()); print(paysift.clean(open(sys.argv[1], encoding='utf-8').read()))"
    )
    result = subprocess.run([str(python), "-c", code, str(EXAMPLE)], capture_output=True, text=True, check=True,
                            cwd=tmp_path)

    model_dir, first_line, *_ = result.stdout.splitlines()
    assert "site-packages" in model_dir  # found inside the installed package, not the checkout
    assert first_line == "Ferry operator fined over cancelled winter sailings"
