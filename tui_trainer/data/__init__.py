"""Data sets held in memory as uint8 tensors: CIFAR-10 or CIFAR-100 pickles, image folders, or synthetic.

The readers are imported where they are used: torch, PIL and torchvision are slow to import, the UI
starts before any data is needed (and asks this module what a folder holds), and a run needs only
one of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..config import DataConfig

if TYPE_CHECKING:
    import torch

CIFAR_DIR = "cifar-10-batches-py"
CIFAR10_TRAIN = 50000  # data_batch_1..5 of the full set, until the folder is looked at
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 5000, 1000  # `--data synthetic`'s split
CIFAR100_DIR = "cifar-100-python"
# The data sets a data folder can hold, by their data.dataset name, in the order they are listed.
KINDS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "folders": "image folders"}
LAYOUTS = {"cifar10": f"{CIFAR_DIR}/", "cifar100": f"{CIFAR100_DIR}/",
           "folders": "train/<class>/ and test/<class>/ image folders"}


class DataError(Exception):
    """Data that cannot be used; the message is one line saying what is wrong and what to do."""


@dataclass
class Dataset:
    train_x: torch.Tensor  # uint8 (N, 3, H, W)
    train_y: torch.Tensor  # int64 (N,)
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    source: str  # where the images came from, for the UI and the run record
    # The held-out images every choice is made on (data/split.py); None: the test set chooses.
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None
    validation: dict | None = None  # what the split is, as the run records it: images, source, seed, digest

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The images and labels of "test" or "val"."""
        return (self.val_x, self.val_y) if name == "val" else (self.test_x, self.test_y)


def load_dataset(source: str, cfg: DataConfig | None = None, *,
                 progress: Callable[[int, int], None] | None = None) -> Dataset:
    """Load `source`: "synthetic", or a directory holding cifar-10-batches-py/, cifar-100-python/ or
    train/ and test/ image folders (or pointing at a CIFAR folder itself).

    `cfg` (default: DataConfig()) picks the data set (`dataset`: auto takes the only one there),
    CIFAR-100's fine or coarse labels (`cifar100_labels`) and the image side (`image_size`: image
    folders are resized to it; CIFAR and synthetic data are 32x32 only). When the folder holds
    nothing, CIFAR-10 (or, when chosen, CIFAR-100) is downloaded there through torchvision.

    `progress(done, total)` is called from this thread while image folders are decoded, with the
    images decoded so far and the images of both splits, at 0, every few hundred images and at the
    end; it is not called when the decoded images come from the cache, nor for CIFAR or synthetic
    data, which load in about a second.

    Raises DataError with one line saying what is wrong and what to do.
    """
    cfg = cfg or DataConfig()
    kind, path = check_source(source, cfg)
    if kind == "synthetic":
        from tui_trainer.data.synthetic import make_synthetic
        return make_synthetic()
    root = Path(source).expanduser()
    if kind == "folders":
        from tui_trainer.data.folders import read_image_folders
        return read_image_folders(root, size=cfg.image_size, progress=progress)
    from tui_trainer.data.cifar import read_cifar, read_cifar100
    if path is None:
        path = _download(root, kind)
    return read_cifar(path) if kind == "cifar10" else read_cifar100(path, cfg.cifar100_labels)


def check_source(source: str, cfg: DataConfig) -> tuple[str, Path | None]:
    """The data set `source` holds for `cfg` (synthetic, or a data.dataset name) and its folder,
    from a look at the folder, reading no image; DataError when the settings cannot apply to it."""
    if source == "synthetic":
        if cfg.dataset != "auto":
            raise DataError(f"data.dataset = {cfg.dataset!r} picks a data set of a data folder, but --data synthetic "
                            f"is generated: set data.dataset=auto, or give --data DIR")
        _check_size(cfg, "synthetic images")
        return "synthetic", None
    kind, path = choose(Path(source).expanduser(), cfg.dataset)
    if kind != "folders":
        _check_size(cfg, f"{KINDS[kind]} images")
    return kind, path


def estimate_train_size(source: str, split: str = "train") -> int | None:
    """Images of a split ("train" or "test") in `source` without reading them: CIFAR batches from
    their file sizes (3,072 pixel bytes and about 18 of pickled label and file name per image),
    image folders by counting files. None when there is nothing to count. For a worker thread: a
    folder can be large."""
    if source == "synthetic":
        return SYNTHETIC_TRAIN if split == "train" else SYNTHETIC_TEST
    try:
        root = Path(source).expanduser()
        folder = next((f for f in (root / CIFAR_DIR, root) if (f / "batches.meta").is_file()), None)
        if folder is not None:
            total = sum(p.stat().st_size for p in folder.glob("data_batch_*" if split == "train" else "test_batch"))
            return round(total / 3090 / 100) * 100 or None
        images = root / split
        if images.is_dir():
            return sum(1 for cls in images.iterdir() if cls.is_dir() for f in cls.iterdir() if f.is_file()) or None
    except OSError:
        return None
    return None


def training_images(total: int | None, cfg: DataConfig) -> int | None:
    """How many of a split's `total` images a run of `cfg` trains on: fewer by the images its
    validation split draws out of them (an image folder's own val/ takes none), for estimates."""
    if total is None or cfg.validation == 0 or cfg.validation >= total:
        return total
    return total - cfg.validation


def describe_source(source: str, cfg: DataConfig | None = None) -> str:
    """A one-line status for the UI, from a look at the directory, without reading the images."""
    cfg = cfg or DataConfig()
    if source == "synthetic":
        return "synthetic data"
    root = Path(source).expanduser()
    try:
        kind, path = choose(root, cfg.dataset)
    except DataError as e:
        return str(e)
    if kind == "folders":
        resized = f" (resized to {cfg.image_size}x{cfg.image_size})" if cfg.image_size != 32 else ""
        own = ", val/ as the validation split when data.validation > 0" if (root / "val").is_dir() else ""
        return f"image folders in {root}{resized}{own}"
    if path is None:
        return (f"missing: no {KINDS[kind]} in {root}; a run will try to download it there (needs "
                f"internet), or put {LAYOUTS[kind]} there, or use --data synthetic")
    from tui_trainer.data.cifar import CIFAR100_FILES, FILES
    missing = [name for name in (FILES if kind == "cifar10" else CIFAR100_FILES) if not (path / name).is_file()]
    if missing:
        return f"missing: {path} lacks {', '.join(missing)}; copy the complete {LAYOUTS[kind]} there"
    labels = " (coarse labels: the superclasses)" if kind == "cifar100" and cfg.cifar100_labels == "coarse" else ""
    return f"{KINDS[kind]} found in {path}{labels}"


def find_datasets(root: Path) -> dict[str, Path]:
    """The data sets `root` holds, by data.dataset name, each with the folder its reader takes."""
    found: dict[str, Path] = {}
    if (root / CIFAR_DIR).is_dir():
        found["cifar10"] = root / CIFAR_DIR
    elif (root / "batches.meta").is_file():  # the user pointed at cifar-10-batches-py itself
        found["cifar10"] = root
    if (root / CIFAR100_DIR).is_dir():
        found["cifar100"] = root / CIFAR100_DIR
    elif (root / "meta").is_file() and (root / "train").is_file():  # at cifar-100-python itself
        found["cifar100"] = root
    if (root / "train").is_dir() and (root / "test").is_dir():
        found["folders"] = root
    return found


def choose(root: Path, dataset: str = "auto") -> tuple[str, Path | None]:
    """The data set of `root` that `dataset` (a data.dataset value) names, and its folder; the
    folder is None for a CIFAR set that is absent from an empty `root` (to be downloaded there)."""
    found = find_datasets(root)
    names = list(found)
    if dataset == "auto":
        if len(names) > 1:
            others = f" (or {', '.join(names[1:])})"
            raise DataError(f"{root} holds {_and(names)}: choose one with --set data.dataset={names[0]}{others}")
        return (names[0], found[names[0]]) if names else ("cifar10", None)
    if dataset not in KINDS:
        raise DataError(f"data.dataset = {dataset!r}: choose auto, {', '.join(KINDS)}")
    if dataset in found:
        return dataset, found[dataset]
    if names:
        raise DataError(f"data.dataset={dataset}, but {root} has no {LAYOUTS[dataset]}: it holds only "
                        f"{_and(names)}; put {LAYOUTS[dataset]} there or use --set data.dataset={names[0]}")
    if dataset == "folders":
        raise DataError(f"data.dataset=folders, but {root} has no image folders: put the images in "
                        f"{root / 'train'}/<class>/ and {root / 'test'}/<class>/")
    return dataset, None


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _check_size(cfg: DataConfig, what: str) -> None:
    if cfg.image_size != 32:
        raise DataError(f"data.image_size = {cfg.image_size}, but {what} are 32x32 and are not resized "
                        f"(only image folders are): set data.image_size=32")


def _download(root: Path, kind: str) -> Path:
    folder = CIFAR_DIR if kind == "cifar10" else CIFAR100_DIR
    try:
        import torchvision.datasets
        # torchvision only fetches and unpacks the archive; the files are then read by the same
        # code as copies a user put there.
        getter = torchvision.datasets.CIFAR10 if kind == "cifar10" else torchvision.datasets.CIFAR100
        getter(root=str(root), download=True)
    except Exception as e:
        raise DataError(f"no {KINDS[kind]} data in {root} and the download failed (offline?): put "
                        f"{folder}/ there, or pass --data DIR / --data synthetic") from e
    return root / folder
