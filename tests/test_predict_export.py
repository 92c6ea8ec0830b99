"""predict, export and TensorBoard on one tiny checkpoint trained once for the module: predictions
of image files of known classes (as saved, and resized), the CLI's table, JSON and refusals; each
export format checked against torch; the TensorBoard scalars of the run that made the checkpoint."""
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tui_trainer.cli import main
from tui_trainer.data.pipeline import normalize
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.events import RunFailed, RunFinished
from tui_trainer.training import checkpoints, export
from tui_trainer.training.evaluate import tta_logits
from tui_trainer.training.predict import find_images, predict_images, read_image
from tui_trainer.training.trainer import Trainer

from conftest import tiny_config

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
N32, N64 = 40, 10  # test images saved at 32x32, and upscaled to 64x64


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 1-epoch seed_cnn on synthetic data (TensorBoard on where installed), its test images as
    PNGs in a folder tree, and what the checkpoint's model says of them in torch."""
    root = tmp_path_factory.mktemp("predict")
    data = make_synthetic(n_train=1024, n_test=300)
    # seed_cnn's own widths: at half of them one epoch of 1,024 images reads 2x-upscaled files
    # (resized back) too poorly for the 60% asserted below. fp32, so that predict (which computes
    # in the checkpoint's precision) and the fp32 reference below agree on every CPU: at `auto`, a
    # CPU with bf16 (AVX-512 bf16, AMX) predicts in bf16 (test_predict_in_bf16_... covers that).
    cfg = tiny_config(**{"run.epochs": 1, "run.tensorboard": HAS_TENSORBOARD, "model.widths": [16, 32, 64],
                         "run.precision": "fp32"})
    result = Trainer(cfg, data="synthetic", runs_dir=root / "runs", dataset=data).run()
    assert isinstance(result, RunFinished), result
    ckpt = Path(result.run_dir) / "checkpoints" / "best.pt"
    images = root / "images"
    files32, files64 = [], []
    for i in range(N32 + N64):
        name = data.classes[int(data.test_y[i])]
        image = Image.fromarray(data.test_x[i].permute(1, 2, 0).numpy())
        if i < N32:
            path = images / ("a" if i % 2 else "b") / f"{i:03d}-{name}.png"  # sorted: b/ after a/
            files32.append(path)
        else:
            image = image.resize((64, 64), Image.Resampling.BILINEAR)
            path = images / "big" / f"{i:03d}-{name}.png"
            files64.append(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
    payload = checkpoints.load(ckpt)
    model = checkpoints.model_from_checkpoint(payload).eval()
    with torch.no_grad():
        logits = model(normalize(data.test_x[:N32 + N64], payload["mean"], payload["std"]))
    return {"ckpt": ckpt, "run_dir": ckpt.parent.parent, "data": data, "images": images, "files32": files32,
            "files64": files64, "expected": logits.argmax(-1).tolist(), "model": model, "payload": payload,
            "result": result, "labels": data.test_y[:N32 + N64].tolist()}


def label_of(path):
    return path.stem.split("-", 1)[1]


def test_predictions_are_the_models_and_mostly_right_at_any_size(trained):
    result = predict_images(trained["ckpt"], [trained["images"]], "cpu", top=3)
    assert result.unreadable == [] and result.classes == trained["data"].classes and result.image_size == 32
    paths = [p.path for p in result.predictions]
    assert paths == sorted(trained["files32"] + trained["files64"])  # recursive and sorted
    by_path = {p.path: p for p in result.predictions}
    for p in result.predictions:
        probs = [g.probability for g in p.top]
        assert len(p.top) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    # A lossless 32x32 file goes through the same pixels as the test tensor: the same answer.
    got32 = [by_path[f].best.index for f in trained["files32"]]
    assert got32 == trained["expected"][:N32]
    right32 = sum(by_path[f].best.name == label_of(f) for f in trained["files32"])
    assert right32 >= 0.7 * N32, right32
    # Upscaled 2x, the file is resized back to 32x32 before the model sees it.
    right64 = sum(by_path[f].best.name == label_of(f) for f in trained["files64"])
    assert right64 >= 0.6 * N64, right64
    assert sum(result.counts().values()) == N32 + N64
    assert list(result.counts().values()) == sorted(result.counts().values(), reverse=True)


def test_resize_matches_the_image_folder_reader(trained):
    from tui_trainer.data.folders import _read_image

    path = trained["files64"][0]
    assert np.array_equal(read_image(path, 32), _read_image(path).transpose(2, 0, 1))


def test_tta_is_evaluate_tta_logits(trained):
    path = trained["files32"][0]
    (p,) = predict_images(trained["ckpt"], [path], "cpu", top=2, tta=True).predictions
    x = normalize(torch.from_numpy(read_image(path, 32))[None], trained["payload"]["mean"], trained["payload"]["std"])
    with torch.no_grad():
        probs = tta_logits(trained["model"], x).softmax(-1)[0]
    assert p.best.index == int(probs.argmax()) and abs(p.best.probability - float(probs.max())) < 1e-5


# bf16 keeps 8 bits of mantissa: logits of a few units move by up to ~0.05 through a small net, a
# probability by about a hundredth (measured on an AMX CPU: at most 0.006 on these images).
BF16_PROBABILITY = 0.03


def test_predict_in_bf16_is_the_fp32_model_within_bf16_rounding(trained, tmp_path):
    """A checkpoint trained in bf16 (precision auto on a CPU with bf16) predicts in bf16, as eval
    evaluates it: the same classes as fp32 where the model is sure, probabilities within rounding."""
    payload = dict(trained["payload"], precision="bf16")
    bf16 = tmp_path / "bf16.pt"
    checkpoints.save(bf16, payload)
    for tta in (False, True):
        result = predict_images(bf16, trained["files32"], "cpu", top=10, tta=tta)
        x = normalize(trained["data"].test_x[:N32], payload["mean"], payload["std"])
        with torch.no_grad():
            reference = (tta_logits(trained["model"], x) if tta else trained["model"](x)).softmax(-1)
        for p, want in zip(result.predictions, reference):
            got = torch.zeros(10)
            for g in p.top:
                got[g.index] = g.probability
            assert (got - want).abs().max() < BF16_PROBABILITY, (tta, p.path)
            if want.max() - want.topk(2).values[1] > 2 * BF16_PROBABILITY:
                assert p.best.index == int(want.argmax())


def test_cli_table_counts_and_an_unreadable_file(trained, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for f in trained["files32"][:6]:
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "notes.txt").write_text("not an image suffix: skipped in a folder")
    assert main(["predict", str(trained["ckpt"]), str(folder), "--top", "3", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [f"tui-trainer predict: {folder / 'broken.png'}: "
                                        f"not an image PIL can read (formats: PNG, JPEG, BMP, GIF, WEBP, TIFF, PPM)"]
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["path", "class", "prob"]
    rows = lines[1:7]
    expected = dict(zip(trained["files32"], trained["expected"]))
    classes = trained["data"].classes
    for row, f in zip(rows, sorted(trained["files32"][:6], key=lambda f: f.name)):
        path, cls, prob, *rest = row.split()
        assert path == str(folder / f.name) and cls == classes[expected[f]]
        assert prob.endswith("%") and len(re.findall(r"\d+\.\d%", " ".join(rest))) == 2
    assert lines[7] == "" and lines[8] == "top-1 counts over 6 images (1 unreadable):"
    counts = {line.split()[0]: int(line.split()[1]) for line in lines[9:]}
    want = {}
    for f in trained["files32"][:6]:
        want[classes[expected[f]]] = want.get(classes[expected[f]], 0) + 1
    assert counts == want


def test_cli_json_one_object_per_image_then_a_summary(trained, capsys):
    files = [str(f) for f in trained["files32"][:3]] + [str(trained["files64"][0])]
    assert main(["predict", str(trained["ckpt"]), *files, "--json", "--top", "2", "--device", "cpu"]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["path"] for o in objects[:4]] == files
    for o in objects[:4]:
        assert o["class"] == o["top"][0]["class"] and len(o["top"]) == 2
        assert o["top"][0]["probability"] >= o["top"][1]["probability"]
    summary = objects[4]
    assert summary["images"] == 4 and summary["unreadable"] == [] and summary["image_size"] == 32
    assert sum(summary["counts"].values()) == 4 and summary["tta"] is False


def test_cli_one_file_lists_its_top_k(trained, capsys):
    f = trained["files32"][0]
    assert main(["predict", str(trained["ckpt"]), str(f), "--top", "4", "--tta", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{f}: ") and lines[0].endswith("(TTA)") and len(lines) == 5


def test_cli_refusals(trained, tmp_path, capsys):
    not_ckpt = tmp_path / "model.pt"
    not_ckpt.write_bytes(b"\x00garbage" * 100)
    image = str(trained["files32"][0])

    def one_line(code, *args):
        assert main(list(args)) == code
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1, lines
        return lines[0]

    refusal = one_line(1, "predict", str(not_ckpt), image)
    assert refusal.startswith(f"tui-trainer predict: {not_ckpt}: ")
    # the same words as eval's refusal of the same file
    assert refusal.split(": ", 1)[1] == one_line(1, "eval", str(not_ckpt), "--data", "synthetic").split(": ", 1)[1]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff truncated")
    assert str(broken) in one_line(1, "predict", str(trained["ckpt"]), str(broken))  # none readable: exit 1
    assert "no such file" in one_line(1, "predict", str(trained["ckpt"]), str(tmp_path / "nope.png"))
    (tmp_path / "empty").mkdir()
    assert "no image files" in one_line(1, "predict", str(trained["ckpt"]), str(tmp_path / "empty"))
    assert "--top 0 is invalid" in one_line(2, "predict", str(trained["ckpt"]), image, "--top", "0")
    assert "--device 'tpu' is invalid" in one_line(2, "predict", str(trained["ckpt"]), image, "--device", "tpu")
    assert "required" in one_line(2, "predict", str(trained["ckpt"]))
    assert "invalid choice" in one_line(2, "export", str(trained["ckpt"]), "--format", "tflite")
    assert str(not_ckpt) in one_line(1, "export", str(not_ckpt), "--format", "pt2")
    assert "the checkpoint itself" in one_line(1, "export", str(trained["ckpt"]), "--format", "pt2", "-o",
                                               str(trained["ckpt"]))
    assert checkpoints.load(trained["ckpt"])["epoch"] == 1  # untouched


def test_find_images_skips_hidden_and_other_files(tmp_path):
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.png").write_bytes(b"")
    (tmp_path / "readme.md").write_text("")
    (tmp_path / "B.JPG").write_bytes(b"")
    (tmp_path / "a.webp").write_bytes(b"")
    found, missing = find_images([tmp_path, tmp_path / "gone.png"])
    assert found == [tmp_path / "B.JPG", tmp_path / "a.webp"] and [m.path.name for m in missing] == ["gone.png"]


# --- export --------------------------------------------------------------------------------------

def exported(capsys, *args):
    assert main(["export", *map(str, args)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    diff = float(re.search(r"largest logit difference (\S+) ", out).group(1))
    assert diff < export.TOLERANCE and "top-1 agrees" in out, out
    return out


def real_inputs(trained):
    """Test images as the exported graphs take them: float RGB in 0..1, NCHW."""
    images = trained["data"].test_x[:16]
    with torch.no_grad():
        logits = trained["model"](normalize(images, trained["payload"]["mean"], trained["payload"]["std"]))
    return images.float() / 255, logits


def test_export_onnx_runs_in_onnxruntime_like_torch(trained, tmp_path, capsys):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    folder = tmp_path / "out"  # tmp_path also holds the test's XDG cache
    folder.mkdir()
    path = folder / "model.onnx"
    out = exported(capsys, trained["ckpt"], "--format", "onnx", "-o", path)
    assert f"wrote {path}" in out and [p.name for p in folder.iterdir()] == ["model.onnx"]  # no temporary left
    x, logits = real_inputs(trained)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["logits", "probabilities"]
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == trained["data"].classes and "0..1, NCHW" in meta["input"]
    assert meta["temperature"] == "1.0" and meta["calibrated"].startswith("no:")  # none fitted: plain softmax
    for batch in (x, x[:1]):  # any batch size
        got, probs = session.run(None, {"images": batch.numpy()})
        assert np.abs(probs - torch.from_numpy(got).softmax(-1).numpy()).max() < 1e-5
        assert got.shape == (len(batch), 10)
        assert (got.argmax(-1) == logits[:len(batch)].argmax(-1).numpy()).all()
        assert np.abs(got - logits[:len(batch)].numpy()).max() < export.TOLERANCE


def test_export_pt2_loads_back_with_torch_export(trained, tmp_path, capsys):
    path = tmp_path / "model.pt2"
    exported(capsys, trained["ckpt"], "--format", "pt2", "-o", path)
    about = {"tui-trainer.json": ""}
    module = torch.export.load(str(path), extra_files=about).module()
    assert json.loads(about["tui-trainer.json"])["classes"] == trained["data"].classes
    x, logits = real_inputs(trained)
    with torch.no_grad():
        for batch in (x, x[:3]):
            got, probs = module(batch)
            assert torch.allclose(probs, got.softmax(-1))
            assert torch.equal(got.argmax(-1), logits[:len(batch)].argmax(-1))
            assert (got - logits[:len(batch)]).abs().max() < export.TOLERANCE


def test_export_safetensors_next_to_the_checkpoint_with_its_sidecar(trained, capsys):
    pytest.importorskip("safetensors")
    from safetensors.torch import load_file

    from tui_trainer.models import build_model

    out = exported(capsys, trained["ckpt"], "--format", "safetensors")
    path = trained["ckpt"].with_suffix(".safetensors")
    sidecar = path.with_name("best.safetensors.json")
    assert f"wrote {path} and {sidecar}" in out
    meta = json.loads(sidecar.read_text())
    payload = trained["payload"]
    assert meta["model"] == payload["model"] and meta["classes"] == payload["classes"]
    assert meta["mean"] == payload["mean"] and meta["std"] == payload["std"] and meta["image_size"] == 32
    assert "0..1" in meta["input"] and "NCHW" in meta["input"]
    spec = meta["model"]
    model = build_model(spec["name"], spec["num_classes"], spec["widths"] or None, spec["zero_gamma"])
    model.load_state_dict(load_file(str(path)))
    x, logits = real_inputs(trained)
    with torch.no_grad():
        again = model.eval()(normalize(trained["data"].test_x[:16], meta["mean"], meta["std"]))
    assert torch.equal(again, logits)


def test_export_that_fails_its_check_leaves_nothing(trained, tmp_path, capsys, monkeypatch):
    pytest.importorskip("safetensors")
    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # any difference, even 0, is too much
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["export", str(trained["ckpt"]), "--format", "safetensors", "-o", str(folder / "w.safetensors")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "check failed" in err[0]
    assert list(folder.iterdir()) == []


def test_export_without_the_extra_says_what_to_install(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed: import raises ImportError
    assert main(["export", str(trained["ckpt"]), "--format", "onnx", "-o", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tui-trainer export: --format onnx needs onnxruntime: pip install 'tui-trainer[export]'"]
    assert not (tmp_path / "m.onnx").exists()


# --- TensorBoard ---------------------------------------------------------------------------------

@pytest.mark.skipif(not HAS_TENSORBOARD, reason="the tensorboard extra is not installed")
def test_tensorboard_scalars_of_the_run(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = trained["run_dir"] / "tensorboard"
    assert list(folder.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(folder))
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    assert {"epoch/train_loss", "epoch/train_acc", "epoch/test_loss", "epoch/test_acc", "epoch/lr",
            "epoch/images_per_s", "batch/loss", "batch/lr"} <= scalars
    (test_acc,) = acc.Scalars("epoch/test_acc")
    assert test_acc.step == 1 and abs(test_acc.value - trained["result"].best_acc) < 1e-6
    steps = [s.step for s in acc.Scalars("batch/loss")]
    assert steps and steps == sorted(steps) and steps[-1] <= 1024 // 64


def test_tensorboard_missing_fails_the_run_with_one_line(tmp_path, monkeypatch):
    from tui_trainer.training.tensorboard import MISSING, TensorBoardWriter

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(ValueError, match=re.escape("pip install 'tui-trainer[tensorboard]'")):
        TensorBoardWriter(tmp_path)
    assert not (tmp_path / "tensorboard").exists()
    cfg = tiny_config(**{"run.epochs": 1, "run.tensorboard": True})
    result = Trainer(cfg, data="synthetic", runs_dir=tmp_path / "runs",
                     dataset=make_synthetic(n_train=128, n_test=64)).run()
    assert isinstance(result, RunFailed) and result.message == MISSING
