"""Export a checkpoint for use outside tui-trainer: ONNX, a torch.export program (pt2), or
safetensors weights with a JSON sidecar.

ONNX and pt2 hold a graph that takes float RGB in 0..1, NCHW, any batch size, and normalizes
with the checkpoint's mean and std itself, so a user feeds it plain pixels / 255. It gives the raw
`logits` as before, and `probabilities`: softmax(logits / T), with T the temperature fitted for the
checkpoint on its run's validation split (`eval --calibration`), or 1 when none was (the metadata
says which). Each export is
checked right after writing: the file is loaded back (onnxruntime for ONNX, torch.export.load
for pt2, safetensors' loader for safetensors) and its logits on a few images are compared with
the checkpoint's model in torch. A file that fails the check is not left behind.
"""
from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..text import clip
from . import checkpoints
from .predict import image_size_of
from .reliability import load_temperature

FORMATS = ("onnx", "safetensors", "pt2")
SUFFIX = {"onnx": ".onnx", "safetensors": ".safetensors", "pt2": ".pt2"}
# What each format needs beyond torch, as (module, pip package). pt2 is torch alone.
NEEDS = {"onnx": [("onnx", "onnx"), ("onnxscript", "onnxscript"), ("onnxruntime", "onnxruntime")],
         "safetensors": [("safetensors", "safetensors")], "pt2": []}
# Both sides compute in fp32 on the CPU, so they differ only by summation order and fused kernels:
# about 1e-5 on these nets' logits (measured: 3e-8 to 9e-6 for seed_cnn, airbench, resnet9 and
# resnet18). 1e-3 leaves two orders of margin for that, yet any real fault (normalization
# missing or applied twice, BatchNorm in training mode, a wrong weight) moves logits by 0.1 or more.
TOLERANCE = 1e-3
CHECK_IMAGES = 8
INPUT = "float32 RGB in 0..1, NCHW (N, 3, {size}, {size}), any batch size N"
INPUT_NAME, OUTPUT_NAME, PROBS_NAME = "images", "logits", "probabilities"
EXTRA_FILE = "tui-trainer.json"  # inside a .pt2


class ExportError(Exception):
    """An export that could not be made or failed its check; one line."""


class MissingExtra(ExportError):
    """A package the format needs is not installed; the message says what to install."""


@dataclass
class ExportResult:
    path: Path
    format: str
    sidecar: Path | None
    max_abs_diff: float  # between the exported file's logits and torch's on the check images
    top1_agree: bool
    checked: int  # images compared
    tolerance: float = TOLERANCE

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "sidecar": str(self.sidecar) if self.sidecar else None,
                "max_abs_diff": self.max_abs_diff, "top1_agree": self.top1_agree, "checked": self.checked,
                "tolerance": self.tolerance}


class Normalized(nn.Module):
    """The checkpoint's model behind its normalization: takes float RGB in 0..1, NCHW; gives its
    logits and its probabilities at `temperature`."""

    def __init__(self, model: nn.Module, mean: list[float], std: list[float], temperature: float = 1.0):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("temperature", torch.tensor(temperature, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model((images - self.mean) / self.std)
        return logits, (logits / self.temperature).softmax(-1)


def default_path(checkpoint: Path, fmt: str) -> Path:
    """Next to the checkpoint: RUN/checkpoints/best.pt -> RUN/checkpoints/best.onnx."""
    return Path(checkpoint).with_suffix(SUFFIX[fmt])


def require(fmt: str) -> None:
    """Raise MissingExtra naming what to install when a package `fmt` needs is missing."""
    missing = []
    for module, package in NEEDS[fmt]:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise MissingExtra(f"--format {fmt} needs {', '.join(missing)}: pip install 'tui-trainer[export]'")


def export_checkpoint(checkpoint: Path, fmt: str, out: Path | None = None) -> ExportResult:
    """Write `checkpoint` as `fmt` to `out` (default: next to it) and check the file.

    Raises CheckpointError (not a usable checkpoint), MissingExtra, ExportError (the export or its
    check failed; nothing is left at `out` then) and OSError."""
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r} is invalid: expected one of {', '.join(FORMATS)}")
    require(fmt)
    checkpoint = Path(checkpoint)
    payload = checkpoints.load(checkpoint)
    model = checkpoints.model_from_checkpoint(payload, checkpoint).float().eval()
    size = image_size_of(payload)
    temperature = load_temperature(checkpoint)
    wrapped = Normalized(model, payload["mean"], payload["std"], temperature or 1.0).eval()
    info = about(payload, checkpoint, temperature=temperature)
    out = Path(out) if out is not None else default_path(checkpoint, fmt)
    if not out.parent.is_dir():
        raise ExportError(f"{out.parent}: no such folder to write {out.name} in")
    if out.resolve() == checkpoint.resolve():
        raise ExportError(f"{out}: that is the checkpoint itself; give another -o PATH")
    sidecar = out.with_name(out.name + ".json") if fmt == "safetensors" else None
    for target in (out, sidecar):
        if target is not None and target.is_dir():
            raise ExportError(f"{target} is a folder; give -o the path of a file to write")
    # Written under a temporary name beside `out` and renamed once checked, so a failed export
    # neither leaves a file nor replaces a good one from before. The name keeps the suffix:
    # torch.export's loader wants .pt2.
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix}")
    sidecar_tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}.json")
    images = torch.rand(CHECK_IMAGES, 3, size, size, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():  # a batch of 8 and one of 1: the batch axis must really be free
            expected = [wrapped(images), wrapped(images[:1])]
        if fmt == "onnx":
            _write_onnx(wrapped, images, tmp, info)
        elif fmt == "pt2":
            _write_pt2(wrapped, images, tmp, info)
        else:
            _write_safetensors(model, tmp)
        try:
            if fmt == "onnx":
                got = _run_onnx(tmp, images)
            elif fmt == "pt2":
                got = _run_pt2(tmp, images)
            else:
                got = _run_safetensors(tmp, payload, images, temperature or 1.0)
        except Exception as e:  # noqa: BLE001 - onnxruntime and torch.export raise their own kinds
            raise ExportError(f"{fmt} check failed: the file does not load back "
                              f"({type(e).__name__}: {_first_line(e)}); nothing written") from e
        shapes = [tuple(o.shape) for outputs in got for o in outputs]
        if shapes != [tuple(o.shape) for outputs in expected for o in outputs]:
            raise ExportError(f"{fmt} check failed: output shapes {shapes}, expected "
                              f"{[tuple(o.shape) for outputs in expected for o in outputs]}; nothing written")
        # Logits and probabilities alike (a probability differs at most as much as its logits do)
        diff = max(float((g.float() - e).abs().max()) for gs, es in zip(got, expected) for g, e in zip(gs, es))
        agree = all(torch.equal(g[0].argmax(-1), e[0].argmax(-1)) for g, e in zip(got, expected))
        if not diff <= TOLERANCE:  # NaN fails too
            raise ExportError(f"{fmt} check failed: outputs differ from torch's by up to {diff:.3g} "
                              f"(tolerance {TOLERANCE:g}); nothing written")
        if sidecar is None:
            os.replace(tmp, out)
        else:  # both files or neither: the weights are unusable without the sidecar's model spec
            sidecar_tmp.write_text(json.dumps(about(payload, checkpoint, normalized=False, temperature=temperature),
                                              indent=2) + "\n")
            os.replace(tmp, out)
            try:
                os.replace(sidecar_tmp, sidecar)
            except OSError:
                out.unlink(missing_ok=True)
                raise
    finally:
        tmp.unlink(missing_ok=True)
        sidecar_tmp.unlink(missing_ok=True)
    return ExportResult(out, fmt, sidecar, diff, agree, CHECK_IMAGES + 1)


# --- the formats -------------------------------------------------------------------------------

def _batch_dim() -> dict:
    return {"images": {0: torch.export.Dim("batch", min=1)}}


def _write_onnx(wrapped: nn.Module, images: torch.Tensor, path: Path, info: dict[str, Any]) -> None:
    # dynamo=True on purpose (this torch's default, spelled out): the exporter that torch maintains,
    # built on torch.export like pt2 below, so one trace serves both. It needs onnxscript (the
    # export extra). The TorchScript exporter (dynamo=False) is deprecated and would not need it.
    try:
        program = torch.onnx.export(wrapped, (images[:2],), dynamo=True, input_names=[INPUT_NAME],
                                    output_names=[OUTPUT_NAME, PROBS_NAME], dynamic_shapes=_batch_dim(), verbose=False)
    except Exception as e:  # noqa: BLE001 - the exporter raises many kinds; one line says which
        raise ExportError(f"ONNX export failed: {type(e).__name__}: {_first_line(e)}") from e
    # The classes and the input convention travel in the file's metadata (strings only):
    # onnxruntime's session.get_modelmeta().custom_metadata_map["classes"] is a JSON list.
    program.model.metadata_props.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in info.items()})
    program.save(str(path), external_data=False)  # one self-contained file: these nets are far below 2 GB


def _run_onnx(path: Path, images: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [tuple(torch.from_numpy(o) for o in session.run(None, {name: x.numpy()})) for x in (images, images[:1])]


def _write_pt2(wrapped: nn.Module, images: torch.Tensor, path: Path, info: dict[str, Any]) -> None:
    try:
        program = torch.export.export(wrapped, (images[:2],), dynamic_shapes=_batch_dim())
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"torch.export failed: {type(e).__name__}: {_first_line(e)}") from e
    # The same description as the ONNX metadata, as a JSON file inside the archive:
    # torch.export.load(PATH, extra_files={"tui-trainer.json": ""}) fills it in.
    torch.export.save(program, str(path), extra_files={EXTRA_FILE: json.dumps(info)})


def _run_pt2(path: Path, images: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    module = torch.export.load(str(path)).module()
    with torch.no_grad():
        return [module(x) for x in (images, images[:1])]


def _write_safetensors(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # save() and a plain write rather than save_file(), which creates the file private (0600).
    path.write_bytes(save(state, metadata={"format": "pt", "producer": "tui-trainer"}))


def _run_safetensors(path: Path, payload: dict, images: torch.Tensor,
                     temperature: float) -> list[tuple[torch.Tensor, ...]]:
    """Rebuild the network from the sidecar's model spec and the saved weights alone."""
    from safetensors.torch import load_file

    rebuilt = checkpoints.model_from_checkpoint({"model": payload["model"], "state_dict": load_file(str(path))}, path)
    wrapped = Normalized(rebuilt.eval(), payload["mean"], payload["std"], temperature).eval()
    with torch.no_grad():
        return [wrapped(x) for x in (images, images[:1])]


def about(payload: dict, checkpoint: Path, normalized: bool = True, temperature: float | None = None) -> dict[str, Any]:
    """What a user needs besides the graph or weights: the network, its classes, its input and its
    calibration. `normalized`: the file applies mean and std itself (ONNX, pt2), or expects it done
    (safetensors). `temperature`: the one fitted for the checkpoint, None when none was."""
    size = image_size_of(payload)
    info = {"producer": "tui-trainer", "checkpoint": str(checkpoint), "epoch": payload.get("epoch"),
            "model": payload["model"], "classes": list(payload["classes"]),
            "mean": list(payload["mean"]), "std": list(payload["std"]), "image_size": size,
            "input": INPUT.format(size=size) + ("; normalized with mean and std inside" if normalized else
                                                "; normalize it first: (x - mean) / std per channel"),
            "output": ("logits (N, classes); probabilities (N, classes) = softmax(logits / temperature)"
                       if normalized else "logits (N, classes); softmax(logits / temperature) for probabilities"),
            "temperature": temperature or 1.0,
            "calibrated": (f"temperature {temperature:.4g} fitted on the run's validation images" if temperature
                           else "no: no temperature was fitted for this checkpoint (eval --calibration on a run "
                                "with data.validation > 0 fits one); temperature 1 is plain softmax")}
    if not normalized:
        info["build"] = ("tui_trainer.models.build_model(name, num_classes, widths or None, zero_gamma), then "
                         "load_state_dict(safetensors.torch.load_file(PATH)); empty widths: the model's default")
    return info


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return clip(text[0] if text else "no detail", 200)
