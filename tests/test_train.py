from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("sklearn")

from paysift import ModelError, classify, load_model
from paysift.corpus import load_pages
from paysift.features import FeatureSettings
from paysift.model import FORMAT_VERSION, WEIGHTS_FILE, _softmax
from paysift.train import _first_pass_matrix, build_dataset, main, train

TOWNS = ["Ashford", "Brill", "Corby", "Dunmore", "Elgin", "Fenwick", "Garston", "Hove"]
TOPICS = ["bridge repairs", "school meals", "bus routes", "flood defences", "library hours", "parking fees"]
SETTINGS = FeatureSettings(hash_bits=12)


def write_corpus(root, publishers=6, pages=3):
    """A small corpus: each publisher says its boilerplate its own way."""
    for p in range(publishers):
        name = f"Gazette {p}"
        for k in range(pages):
            town, topic = TOWNS[(p + k) % len(TOWNS)], TOPICS[(p * 3 + k) % len(TOPICS)]
            lines = [
                f"article | {town} council votes on {topic}",
                f"article | By Reporter {p}{k}",
                f"article | Councillors in {town} met on Tuesday to discuss {topic} for the coming year.",
                f"article | \"We cannot wait any longer,\" said the mayor of {town}, who backs the plan.",
                f"article | The vote on {topic} is expected next month after a public consultation.",
                f"paywall | Subscribe to Gazette {p} to keep reading",
                f"paywall | Already a subscriber? Sign in{' here' * (p % 2)}",
                f"pricing | Digital plan {p}",
                f"pricing | ${p + 1}.99 a month",
                "pricing | Cancel anytime",
                f"disclaimer | © 2026 Gazette {p} Ltd. All rights reserved.",
                "disclaimer | Privacy Policy | Terms of Use",
            ]
            folder = root / f"gazette-{p}"
            folder.mkdir(parents=True, exist_ok=True)
            header = f"# publisher: {name}\n# lang: en\n"
            (folder / f"page-{k}.txt").write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "small"
    manifest = train([corpus], out, settings=SETTINGS, c_grid=(10.0,), n_folds=3, n_jobs=1, quiet=True)
    return out, manifest


def test_trained_model_labels_a_page_of_an_unseen_publisher(trained, tmp_path):
    out, _ = trained
    (page,) = load_pages([write_corpus(tmp_path, publishers=8, pages=1) / "gazette-7"])
    spans, gold = page.block_labels()

    blocks = classify(page.text, model=load_model(out))

    assert [(block.start, block.end) for block in blocks] == spans
    assert sum(block.label == label for block, label in zip(blocks, gold)) >= 0.9 * len(gold)


def test_manifest_records_data_settings_and_scores(trained):
    _, manifest = trained

    assert manifest["labels"] == ["article", "paywall", "pricing", "disclaimer"]
    assert manifest["features"] == SETTINGS.to_json()
    assert manifest["training_data"]["pages"] == 18 and manifest["training_data"]["publishers"] == 6
    assert manifest["training_data"]["blocks"] == {"article": 90, "paywall": 36, "pricing": 54, "disclaimer": 36}
    assert len(manifest["training_data"]["digest"]) == 64
    assert manifest["hyperparameters"]["first_pass_C"] == 10.0
    assert manifest["cross_validation"]["report"]["article_recall"] is not None
    assert manifest["format_version"] == FORMAT_VERSION and len(manifest["weights_sha256"]) == 64


def test_inference_reproduces_scikit_learn_probabilities(corpus, trained):
    """Training and inference share the featuriser: numpy scoring of raw text must
    give what scikit-learn gives on the training matrix."""
    from sklearn.linear_model import LogisticRegression

    out, manifest = trained
    model = load_model(out)
    pages = load_pages([corpus])
    data = build_dataset(pages, model.labels, SETTINGS)
    x = _first_pass_matrix(data, model.arrays["shape_mean"], model.arrays["shape_scale"])
    classifier = LogisticRegression(C=manifest["hyperparameters"]["first_pass_C"], max_iter=2000, tol=1e-4).fit(x, data.y)

    ours = np.vstack([_softmax(model.first_pass(page.text, page.block_labels()[0])[0]) for page in pages])

    np.testing.assert_allclose(ours, classifier.predict_proba(x), atol=1e-5)


def test_training_is_deterministic(corpus, trained, tmp_path):
    out, _ = trained

    train([corpus], tmp_path / "again", settings=SETTINGS, c_grid=(10.0,), n_folds=3, n_jobs=2, quiet=True)

    assert (tmp_path / "again" / WEIGHTS_FILE).read_bytes() == (out / WEIGHTS_FILE).read_bytes()


def test_retraining_replaces_a_model_in_place(corpus, tmp_path):
    out = tmp_path / "m"
    train([corpus], out, settings=SETTINGS, c_grid=(10.0,), n_folds=3, n_jobs=1, quiet=True)
    train([corpus], out, settings=FeatureSettings(hash_bits=11), c_grid=(10.0,), n_folds=3, n_jobs=1, quiet=True)

    assert load_model(out).settings.hash_bits == 11
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda text: text.replace("paywall |", "paywal |", 1), "unknown label 'paywal'"),
        (lambda text: text.replace("# lang: en\n", ""), "missing header '# lang: ...'"),
        (lambda text: text.encode("utf-8").replace(b"Councillors", b"Council\xfflors"), "not valid UTF-8"),
    ],
)
def test_bad_data_fails_early_naming_file_and_line_and_writes_nothing(corpus, trained, tmp_path, capsys, change, message):
    import shutil

    data = shutil.copytree(corpus, tmp_path / "data")
    page = data / "gazette-2" / "page-1.txt"
    changed = change(page.read_text(encoding="utf-8"))
    page.write_bytes(changed if isinstance(changed, bytes) else changed.encode("utf-8"))
    out, _ = trained
    target = shutil.copytree(out, tmp_path / "model")
    before = (target / WEIGHTS_FILE).read_bytes()

    assert main([str(data), "--out", str(target), "--quiet", "--hash-bits", "12"]) == 2

    err = capsys.readouterr().err
    assert f"{page}:" in err and message in err and "nothing was written" in err
    assert (target / WEIGHTS_FILE).read_bytes() == before


def test_killing_the_trainer_leaves_the_previous_model_loadable(corpus, trained, tmp_path):
    import shutil

    out, _ = trained
    target = shutil.copytree(out, tmp_path / "model")
    before = (target / WEIGHTS_FILE).read_bytes()
    command = [sys.executable, "-m", "paysift.train", str(corpus), "--out", str(target), "--quiet",
               "--hash-bits", "11", "--folds", "3", "--c-grid", "10"]
    for delay in (0.3, 0.8, 1.5, 2.5):
        process = subprocess.Popen(command, start_new_session=True)
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

        model = load_model(target)  # whole: the old model, or a complete new one
        if model.settings.hash_bits == 12:
            assert (target / WEIGHTS_FILE).read_bytes() == before
    subprocess.run(command, check=True)
    assert load_model(target).settings.hash_bits == 11


def test_too_few_publishers_is_a_clear_error(tmp_path):
    write_corpus(tmp_path / "data", publishers=1)

    with pytest.raises(Exception, match="at least 2 publishers"):
        train([tmp_path / "data"], tmp_path / "m", settings=SETTINGS, n_folds=3, quiet=True)
    assert not (tmp_path / "m").exists()
    with pytest.raises(ModelError):
        load_model(tmp_path / "m")
