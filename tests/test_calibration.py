"""Calibration: ECE against a hand-computed case, temperature scaling fitted on held-out images and
lowering ECE on others, the temperature beside its checkpoint used by predict and the exported
model, and the HTML report: every section there, and text from files escaped."""
import json

import numpy as np
import pytest
import torch

from tui_trainer.data import load_dataset
from tui_trainer.data.pipeline import normalize
from tui_trainer.events import RunFinished
from tui_trainer.training import checkpoints
from tui_trainer.training.reliability import (
    fit_temperature,
    load_temperature,
    reliability,
    temperature_path,
)
from tui_trainer.training.trainer import Trainer
from tui_trainer.workspace import folder
from tui_trainer.workspace.notes import set_note

from conftest import run_cli, tiny_config


def logits_of(probs: list[list[float]]) -> torch.Tensor:
    return torch.tensor(probs).log()


def test_ece_and_mce_of_a_hand_computed_case():
    # Confidences 0.9 (right), 0.9 (wrong), 0.65 (right), 0.65 (right); 15 bins of 1/15:
    # the 0.9 bin: accuracy 0.5, gap 0.4, half the images; the 0.65 bin: accuracy 1, gap 0.35, half.
    logits = logits_of([[0.9, 0.1], [0.9, 0.1], [0.35, 0.65], [0.65, 0.35]])
    labels = torch.tensor([0, 1, 1, 0])
    rel = reliability(logits, labels)
    assert rel.ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.35, abs=1e-5)
    assert rel.mce == pytest.approx(0.4, abs=1e-5)
    assert [(b.count, round(b.accuracy, 4), round(b.confidence, 4)) for b in rel.bins] == [(2, 1.0, 0.65),
                                                                                         (2, 0.5, 0.9)]
    assert rel.bins[0].low == pytest.approx(9 / 15) and rel.bins[1].low == pytest.approx(13 / 15)


def calibrated_then_sharpened(n: int, seed: int, factor: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels drawn from softmax(z), so z is calibrated by construction; the logits returned are
    z * factor, the overconfidence temperature scaling should undo (T close to factor)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 10, generator=g) * 1.5
    labels = torch.multinomial(z.softmax(-1), 1, generator=g).flatten()
    return z * factor, labels


def test_temperature_fitted_on_held_out_logits_undoes_overconfidence_on_others():
    fit_logits, fit_labels = calibrated_then_sharpened(4000, seed=1)
    t = fit_temperature(fit_logits, fit_labels)
    assert 2.6 < t < 3.4  # the factor the logits were sharpened by
    logits, labels = calibrated_then_sharpened(4000, seed=2)  # other images
    before, after = reliability(logits, labels), reliability(logits, labels, t)
    assert before.ece > 0.15 and after.ece < before.ece / 4
    # Bins counted here add up to torchmetrics' ECE: they are its bins.
    assert sum(b.count * abs(b.accuracy - b.confidence) for b in after.bins) / after.n == pytest.approx(after.ece,
                                                                                                        abs=1e-4)


@pytest.fixture(scope="module")
def held_out_run(tmp_path_factory):
    """A tiny fp32 run that held 500 training images out, and one that held none out."""
    root = tmp_path_factory.mktemp("calibration")
    synthetic = load_dataset("synthetic")
    runs = {}
    for name, validation in (("held", 500), ("plain", 0)):
        cfg = tiny_config(**{"data.validation": validation, "run.precision": "fp32"})
        result = Trainer(cfg, data="synthetic", runs_dir=root / name, dataset=synthetic).run()
        assert isinstance(result, RunFinished), result
        runs[name] = folder.Path(result.run_dir)
    return runs, synthetic


def test_eval_calibration_fits_on_validation_and_predict_and_onnx_use_it(held_out_run, home, tmp_path):
    runs, synthetic = held_out_run
    best = runs["held"] / "checkpoints" / "best.pt"
    proc = run_cli(home, "eval", str(best), "--calibration", "--json")
    assert proc.returncode == 0, proc.stderr
    c = json.loads(proc.stdout)["calibration"]
    t = c["temperature"]
    assert c["fitted_on"] == 500 and t > 0 and 0 <= c["after"]["ece"] <= 1 and 0 <= c["ece"] <= 1
    assert load_temperature(best) == pytest.approx(t)
    assert json.loads(temperature_path(best).read_text())["checkpoint"] == "best.pt"

    # predict divides by T before the softmax
    from tui_trainer.data.writers import write_image_folders
    from tui_trainer.training.predict import predict_images

    images = write_image_folders(tmp_path / "imgs", type(synthetic)(synthetic.test_x[:4], synthetic.test_y[:4],
                                                                    synthetic.test_x[:4], synthetic.test_y[:4],
                                                                    synthetic.classes, "x")) / "test"
    predicted = predict_images(best, [images], "cpu", top=10)
    assert predicted.temperature == pytest.approx(t)
    payload = checkpoints.load(best)
    model = checkpoints.model_from_checkpoint(payload, best).eval()
    files = [p.path for p in predicted.predictions]
    with torch.no_grad():
        from tui_trainer.training.predict import read_image
        x = torch.from_numpy(np.stack([read_image(f, 32) for f in files]))
        expected = (model(normalize(x, payload["mean"], payload["std"])) / t).softmax(-1)
    for p, row in zip(predicted.predictions, expected):
        assert p.best.probability == pytest.approx(float(row.max()), abs=1e-5)

    # the exported model's probabilities output is softmax(logits / T), as torch computes it
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = tmp_path / "m.onnx"
    proc = run_cli(home, "export", str(best), "--format", "onnx", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert float(session.get_modelmeta().custom_metadata_map["temperature"]) == pytest.approx(t)
    pixels = synthetic.test_x[:16].float() / 255
    logits, probs = session.run(None, {"images": pixels.numpy()})
    with torch.no_grad():
        reference = (model(normalize(synthetic.test_x[:16], payload["mean"], payload["std"])) / t).softmax(-1)
    assert np.abs(probs - reference.numpy()).max() < 1e-4
    assert np.abs(probs - torch.from_numpy(logits).div(t).softmax(-1).numpy()).max() < 1e-5

    # a temperature fitted for other contents of the file is not used
    payload["epoch"] = 99
    checkpoints.save(best, payload)
    assert load_temperature(best) is None


def test_a_run_without_a_split_gets_no_temperature_and_says_how(held_out_run, home):
    runs, _ = held_out_run
    best = runs["plain"] / "checkpoints" / "best.pt"
    proc = run_cli(home, "eval", str(best), "--calibration")
    assert proc.returncode == 0, proc.stderr
    assert "ECE" in proc.stdout and "--set data.validation=5000" in proc.stdout
    assert not temperature_path(best).exists()
    refused = run_cli(home, "eval", str(best), "--calibration", "--split", "val")
    assert refused.returncode == 2 and "--calibration" in refused.stderr


def test_the_report_has_every_section_and_escapes_text_from_files(held_out_run, home, tmp_path):
    from tui_trainer.report.page import SECTIONS

    runs, _ = held_out_run
    hostile = runs["held"].with_name("run-<b onmouseover=alert(1)>x")
    runs["held"].rename(hostile)
    runs["held"] = hostile
    set_note(hostile, 'see <img src=x onerror="alert(2)"> & \x1b[2J')
    out = tmp_path / "r.html"
    proc = run_cli(home, "report", str(hostile), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert "<script" not in page and "<b onmouseover" not in page and "<img src=x" not in page and "\x1b" not in page
    assert "run-&lt;b onmouseover=alert(1)&gt;x" in page and "&lt;img src=x" in page and "^[[2J" in page
    assert "http://" not in page and "https://" not in page  # self-contained: nothing to fetch
    assert page.count('src="data:image/png;base64,') >= 4  # curves, confusion, reliability, thumbnails
    assert "after temperature scaling (T = " in page and "fitted on 500 validation images" in page
    assert len(page) > 20_000  # figures and thumbnails inside
    missing = run_cli(home, "report", str(tmp_path / "nothing"))
    assert missing.returncode == 1 and "not a run folder" in missing.stderr
