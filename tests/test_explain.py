"""Drill-down data and Grad-CAM: the images of a confusion cell, a class's misses and false alarms
from a real evaluation; the layer each model is explained at; maps of the right shape that differ
by class; `eval --confusions` and `explain` as a user runs them."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torch import nn

from tui_trainer.cli import main
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.events import RunFinished
from tui_trainer.models import build_model
from tui_trainer.training.class_report import confusions, drill
from tui_trainer.training.evaluate import evaluate_checkpoint
from tui_trainer.training.explain import Explainer, NoLayer, overlay, target_layer
from tui_trainer.training.trainer import Trainer

from conftest import tiny_config


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    cfg = tiny_config(**{"run.epochs": 1, "run.precision": "fp32"})
    result = Trainer(cfg, data="synthetic", runs_dir=root / "runs").run()
    assert isinstance(result, RunFinished) and result.best_acc > 0.5, result
    return Path(result.run_dir) / "checkpoints" / "best.pt"


def test_drill_picks_a_cell_a_classs_misses_and_false_alarms_most_confident_first():
    labels = [0, 0, 1, 1, 2, 2, 0]
    predicted = [0, 1, 1, 0, 1, 2, 1]
    confidence = [0.9, 0.6, 0.8, 0.7, 0.95, 0.5, 0.99]
    assert drill(labels, predicted, confidence, true=0, pred=1) == [6, 1]
    assert drill(labels, predicted, confidence, true=0, wrong=True) == [6, 1]  # class 0's misses
    assert drill(labels, predicted, confidence, pred=1, wrong=True) == [6, 4, 1]  # class 1's false alarms
    assert drill(labels, predicted, confidence, wrong=True) == [6, 4, 3, 1]
    assert [(c.true, c.predicted, c.indices) for c in confusions(labels, predicted, confidence)] == \
        [(0, 1, [6, 1]), (1, 0, [3]), (2, 1, [4])]


def test_an_evaluation_holds_each_images_prediction_and_its_cells_add_up(checkpoint):
    result = evaluate_checkpoint(checkpoint, "synthetic", "cpu", worst=5)
    assert len(result.predicted) == result.n == len(result.labels) == len(result.confidence)
    for c in result.confusions():
        assert c.count == result.confusion[c.true][c.predicted]
        assert all(result.labels[i] == c.true and result.predicted[i] == c.predicted for i in c.indices)
        assert [result.confidence[i] for i in c.indices] == sorted((result.confidence[i] for i in c.indices), reverse=True)
    wrong = sum(c.count for c in result.confusions())
    assert wrong == result.n - sum(result.confusion[k][k] for k in range(len(result.classes)))
    assert [m.index for m in result.worst] == result.images(wrong=True)[:5]


@pytest.mark.parametrize("name,layer,side", [("airbench", "groups.1", 7), ("resnet18", "blocks.5", 8),
                                             ("resnet9", "layers.6", 8), ("seed_cnn", "features.7", 16)])
def test_each_model_is_explained_at_its_last_block_of_seven_or_more(name, layer, side):
    found, _, size = target_layer(build_model(name, 10, None, False), 32)
    assert (found, size) == (layer, (side, side))


def test_a_model_without_a_conv_block_is_one_line():
    with pytest.raises(NoLayer, match="no convolutional block"):
        target_layer(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)), 32)


def test_maps_have_the_images_shape_and_differ_by_class(checkpoint):
    explainer = Explainer(checkpoint)
    data = make_synthetic(n_train=10, n_test=8)
    images = [data.test_x[i].numpy() for i in range(4)]
    first = explainer.explain(images, [None] * 4)
    # The true class given as another than the one predicted: a second map, for that class.
    others = [(e.predicted + 1) % len(explainer.classes) for e in first]
    explained = explainer.explain(images, others)
    for e, other in zip(explained, others):
        assert set(e.maps) == {e.predicted, other} and len(e.top) == 5
        for heat in e.maps.values():
            assert heat.shape == (32, 32) and heat.min() >= 0 and heat.max() <= 1 + 1e-6
        assert not np.allclose(e.maps[e.predicted], e.maps[other], atol=1e-3)
    assert any(np.ptp(e.maps[e.predicted]) > 0.5 for e in explained)  # a map with a place, not flat
    assert overlay(images[0], explained[0].maps[explained[0].predicted]).shape == (3, 32, 32)


def test_eval_confusions_and_explain_from_the_command_line(checkpoint, tmp_path, capsys):
    assert main(["eval", str(checkpoint), "--confusions", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    pairs = report["confusions"]
    assert sum(p["count"] for p in pairs) == report["n"] - round(report["accuracy"] * report["n"])
    assert all(len(p["indices"]) == p["count"] for p in pairs) and pairs[0]["true"] in report["classes"]
    picture = tmp_path / "in" / "one.png"
    picture.parent.mkdir()
    Image.fromarray(make_synthetic(n_train=10, n_test=2).test_x[0].permute(1, 2, 0).numpy()).save(picture)
    (tmp_path / "in" / "bad.png").write_text("not an image")
    index = pairs[0]["indices"][0] if pairs else 0
    code = main(["explain", str(checkpoint), f"test:{index}", str(picture), str(tmp_path / "in" / "bad.png"),
                 "test:99999", "-o", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 1 and sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([f"test-{index}.png", "one.png"])
    assert "bad.png: not an image" in err and "test:99999: expected test:N" in err and "Traceback" not in err
    assert "Grad-CAM at features.7 (16x16)" in out
    with Image.open(tmp_path / "out" / f"test-{index}.png") as png:
        assert png.size[0] > 2 * png.size[1]  # three panels side by side: the image, predicted, true
