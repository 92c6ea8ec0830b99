"""Where a model looked: Grad-CAM (Selvaraju et al. 2017) maps from captum's LayerGradCam, for the
predicted class and the true one, overlaid on the image.

The layer is the last block whose maps are at least 7x7: airbench's second group (7x7), the
ResNets' third stage, the seed CNN's last conv (16x16). Later blocks are 4x4 or smaller on
32x32 images, too coarse to say where in the image anything was; earlier ones see edges, not
objects. A block here is a child of one of the model's Sequentials that holds a convolution.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.pipeline import normalize
from . import checkpoints
from .predict import image_size_of

MIN_MAP = 7  # the smallest map side worth showing
TOP = 5


class NoLayer(ValueError):
    """The model has no block with maps of at least MIN_MAP x MIN_MAP; one line."""


@dataclass
class Explanation:
    pixels: np.ndarray  # (3, S, S) uint8: the model's input
    top: list[tuple[int, float]]  # (class, probability), most probable first
    true: int | None  # the image's class, when known
    maps: dict[int, np.ndarray] = field(default_factory=dict)  # class -> (S, S) float in [0, 1]

    @property
    def predicted(self) -> int:
        return self.top[0][0]

    def captions(self, classes: list[str]) -> dict[int, str]:
        """Each map's caption, raw (class names are the caller's to escape): "predicted: dog 71%"."""
        probs = dict(self.top)
        return {c: f"{'predicted' if c == self.predicted else 'true'}: {classes[c]}"
                   + (f" {probs[c]:.0%}" if c in probs else "") for c in self.maps}


def target_layer(model: nn.Module, size: int) -> tuple[str, nn.Module, tuple[int, int]]:
    """(name, module, map size) of the last block with maps of at least MIN_MAP on a side, found
    by one forward pass of a blank image (models build their shapes at run time)."""
    blocks = {id(child): (f"{name}.{child_name}" if name else child_name, child)
              for name, module in model.named_modules() if isinstance(module, nn.Sequential)
              for child_name, child in module.named_children()
              if any(isinstance(m, nn.Conv2d) for m in child.modules())}
    seen: list[tuple[str, nn.Module, tuple[int, int]]] = []
    hooks = [module.register_forward_hook(lambda m, i, out, name=name: seen.append((name, m, tuple(out.shape[-2:])))
                                          if out.dim() == 4 else None)
             for name, module in blocks.values()]
    try:
        was = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
        model.train(was)
    finally:
        for h in hooks:
            h.remove()
    fit = [s for s in seen if min(s[2]) >= MIN_MAP]
    if not fit:
        raise NoLayer(f"{type(model).__name__} has no convolutional block with maps of {MIN_MAP}x{MIN_MAP} or "
                      f"more to explain")
    return fit[-1]


class Explainer:
    """A checkpoint's model with its Grad-CAM layer, ready to explain images a few at a time."""

    def __init__(self, path: Path | str):
        from captum.attr import LayerGradCam  # imported where used: the app starts without it

        self.path = Path(path)
        payload = checkpoints.load(self.path)
        self.classes = [str(c) for c in payload["classes"]]
        self.size = image_size_of(payload)
        self.mean, self.std = payload["mean"], payload["std"]
        # float32 on the CPU: gradients of a bf16 autocast would be bf16's coarse ones
        self.model = checkpoints.model_from_checkpoint(payload, self.path).float().eval()
        self.layer_name, layer, self.map_size = target_layer(self.model, self.size)
        self.gradcam = LayerGradCam(self.model, layer)

    @property
    def layer_text(self) -> str:
        return f"{self.layer_name} ({self.map_size[0]}x{self.map_size[1]})"

    def explain(self, images: list[np.ndarray], trues: list[int | None]) -> list[Explanation]:
        """Top classes and maps for the predicted and the true class of (3, S, S) uint8 images."""
        from captum.attr import LayerAttribution

        x = normalize(torch.from_numpy(np.stack(images)), self.mean, self.std)
        with torch.no_grad():
            probs = self.model(x).float().softmax(-1)
        p, c = probs.topk(min(TOP, len(self.classes)), dim=-1)
        out = [Explanation(img, list(zip(ci.tolist(), pi.tolist())), t) for img, ci, pi, t in zip(images, c, p, trues)]
        wanted = [[e.predicted] + ([e.true] if e.true is not None and e.true != e.predicted else []) for e in out]
        for k in range(max(len(w) for w in wanted)):
            rows = [i for i, w in enumerate(wanted) if len(w) > k]
            targets = [wanted[i][k] for i in rows]
            attr = self.gradcam.attribute(x[rows], target=targets, relu_attributions=True)
            maps = LayerAttribution.interpolate(attr.detach(), (self.size, self.size), "bilinear")[:, 0]
            for i, target, heat in zip(rows, targets, maps):
                peak = float(heat.max())
                out[i].maps[target] = (heat / peak).numpy() if peak > 0 else heat.numpy()
        return out


def overlay(pixels: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """(3, S, S) uint8: the image under the map in matplotlib's 'jet' colours."""
    from matplotlib import colormaps

    colours = colormaps["jet"](heat)[..., :3].transpose(2, 0, 1) * 255
    return ((1 - alpha) * pixels + alpha * colours).round().clip(0, 255).astype(np.uint8)


def write_png(e: Explanation, classes: list[str], layer: str, path: Path, title: str) -> None:
    """The image, the map of the predicted class and of the true one (when known and different)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..text import shown as escaped

    def shown(text: str) -> str:  # and not mathtext: matplotlib reads $...$ in a title as a formula
        return escaped(text).replace("$", r"\$")

    panels = [("image" + (f", true: {shown(classes[e.true])}" if e.true is not None else ""), e.pixels)]
    panels += [(shown(caption), overlay(e.pixels, e.maps[c])) for c, caption in e.captions(classes).items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.4))
    for ax, (label, img) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img.transpose(1, 2, 0), interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{shown(title)}\nGrad-CAM at {layer}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
