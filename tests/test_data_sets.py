"""Data beyond CIFAR-10: CIFAR-100 (fine and coarse), choosing among the data sets of a folder,
the decoded-image cache of image folders, data.image_size, and a CIFAR-100 run end to end."""
import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tui_trainer.config import Config, DataConfig
from tui_trainer.data import DataError, Dataset, describe_source, folders, load_dataset
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.data.writers import write_cifar100, write_cifar_batches, write_image_folders
from tui_trainer.events import RunFinished
from tui_trainer.training.evaluate import evaluate_checkpoint
from tui_trainer.training.trainer import Trainer
from tui_trainer.workspace import folder

from conftest import tiny_config

FINE = [f"fine{i:02d}" for i in range(20)]
COARSE = ["aquatic", "flowers", "insects", "trees"]


def data(**kw) -> DataConfig:
    return Config.from_dict({"data": kw}).data


def random_set(n_train: int, n_test: int, classes: list[str], seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    k = len(classes)
    return Dataset(torch.randint(0, 256, (n_train, 3, 32, 32), dtype=torch.uint8, generator=g),
                   torch.arange(n_train) % k,
                   torch.randint(0, 256, (n_test, 3, 32, 32), dtype=torch.uint8, generator=g),
                   torch.arange(n_test).flip(0) % k, list(classes), "generated")


@pytest.fixture(scope="module")
def hundred() -> Dataset:
    return random_set(60, 20, FINE, seed=1)


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """HOME in tmp_path and no XDG_CACHE_HOME: the folder cache goes to HOME/.cache/tui-trainer/folders."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return tmp_path / "home" / ".cache" / "tui-trainer" / "folders"


def line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


# --- CIFAR-100 -----------------------------------------------------------------------------------

def test_cifar100_fine_and_coarse_labels(tmp_path, hundred):
    folder = write_cifar100(tmp_path, hundred, coarse_of=[i // 5 for i in range(20)], coarse_names=COARSE)
    assert sorted(p.name for p in folder.iterdir()) == ["meta", "test", "train"]
    assert describe_source(str(tmp_path)) == f"CIFAR-100 found in {folder}"
    fine = load_dataset(str(tmp_path))  # fine labels by default
    assert fine.classes == FINE and fine.num_classes == 20 and fine.source == str(folder)
    for name in ("train_x", "train_y", "test_x", "test_y"):
        got, want = getattr(fine, name), getattr(hundred, name)
        assert got.dtype == want.dtype and torch.equal(got, want), name

    coarse = load_dataset(str(tmp_path), data(cifar100_labels="coarse"))
    assert coarse.classes == COARSE and coarse.num_classes == 4
    assert torch.equal(coarse.train_y, hundred.train_y // 5) and torch.equal(coarse.test_y, hundred.test_y // 5)
    assert torch.equal(coarse.train_x, hundred.train_x)
    assert describe_source(str(tmp_path), data(cifar100_labels="coarse")).endswith("(coarse labels: the superclasses)")
    # Pointing at cifar-100-python itself works too, and so do the official files' bytes keys.
    meta = {b"fine_label_names": [n.encode() for n in FINE], b"coarse_label_names": [n.encode() for n in COARSE]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    assert load_dataset(str(folder), data(dataset="cifar100")).classes == FINE


def test_cifar100_damage_is_one_line(tmp_path, hundred):
    folder = write_cifar100(tmp_path, hundred)
    (folder / "test").write_bytes(pickle.dumps({"data": hundred.test_x.reshape(20, -1).numpy(),
                                                "fine_labels": [0] * 20}, protocol=2))
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path), data(cifar100_labels="coarse"))
    assert line(e) == f"{folder / 'test'}: no 'coarse_labels' entry; this is not a CIFAR-100 file"
    (folder / "meta").unlink()
    assert describe_source(str(tmp_path)).startswith(f"missing: {folder} lacks meta")
    with pytest.raises(DataError, match="lacks meta: copy the complete cifar-100-python/ there"):
        load_dataset(str(tmp_path))


# --- choosing the data set -----------------------------------------------------------------------

def test_auto_takes_the_only_data_set_and_asks_when_there_are_several(tmp_path, hundred):
    write_cifar100(tmp_path, hundred)
    assert load_dataset(str(tmp_path)).classes == FINE
    small = make_synthetic(50, 10, seed=0)
    write_cifar_batches(tmp_path, small)
    want = f"{tmp_path} holds cifar10 and cifar100: choose one with --set data.dataset=cifar10 (or cifar100)"
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path))
    assert line(e) == want
    assert describe_source(str(tmp_path)) == want
    assert load_dataset(str(tmp_path), data(dataset="cifar10")).classes == small.classes
    assert load_dataset(str(tmp_path), data(dataset="cifar100")).classes == FINE
    assert describe_source(str(tmp_path), data(dataset="cifar10")) == \
        f"CIFAR-10 found in {tmp_path / 'cifar-10-batches-py'}"

    write_image_folders(tmp_path, replace(small, train_x=small.train_x[:4], train_y=torch.tensor([0, 1, 0, 1]),
                                          test_x=small.test_x[:2], test_y=torch.tensor([0, 1])))
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path))
    assert line(e) == (f"{tmp_path} holds cifar10, cifar100 and folders: choose one with "
                       f"--set data.dataset=cifar10 (or cifar100, folders)")


def test_an_explicit_choice_that_is_absent_says_what_is_there(tmp_path, monkeypatch):
    write_cifar_batches(tmp_path, make_synthetic(50, 10, seed=0))
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path), data(dataset="cifar100"))
    assert line(e) == (f"data.dataset=cifar100, but {tmp_path} has no cifar-100-python/: it holds only cifar10; "
                       f"put cifar-100-python/ there or use --set data.dataset=cifar10")
    with pytest.raises(DataError, match="has no train/<class>/ and test/<class>/ image folders: it holds only cifar10"):
        load_dataset(str(tmp_path), data(dataset="folders"))

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as e:
        load_dataset(str(empty), data(dataset="folders"))
    assert line(e).startswith(f"data.dataset=folders, but {empty} has no image folders: put the images in")
    # CIFAR-100 chosen in an empty folder is downloaded like CIFAR-10; offline, one line says where to put it.
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", offline)
    assert describe_source(str(empty), data(dataset="cifar100")).startswith(f"missing: no CIFAR-100 in {empty}")
    with pytest.raises(DataError) as e:
        load_dataset(str(empty), data(dataset="cifar100"))
    assert line(e) == (f"no CIFAR-100 data in {empty} and the download failed (offline?): put cifar-100-python/ "
                       f"there, or pass --data DIR / --data synthetic")


def test_cifar_and_synthetic_refuse_other_image_sizes(tmp_path, hundred):
    write_cifar100(tmp_path / "c100", hundred)
    write_cifar_batches(tmp_path / "c10", make_synthetic(50, 10, seed=0))
    for source, what in ((tmp_path / "c100", "CIFAR-100"), (tmp_path / "c10", "CIFAR-10"), ("synthetic", "synthetic")):
        with pytest.raises(DataError) as e:
            load_dataset(str(source), data(image_size=48))
        assert line(e) == (f"data.image_size = 48, but {what} images are 32x32 and are not resized "
                           f"(only image folders are): set data.image_size=32")


# --- image folders: the decoded-image cache and image_size ---------------------------------------

@pytest.fixture
def three(tmp_path):
    small = make_synthetic(30, 9, seed=2)
    three = replace(small, train_y=torch.arange(30) % 3, test_y=torch.arange(9) % 3, classes=["a", "b", "c"])
    write_image_folders(tmp_path / "imgs", three)
    return three, tmp_path / "imgs"


class Decodes:
    """Counts the images PIL opens in the folders reader (the real decoder, wrapped)."""

    def __init__(self, monkeypatch):
        self.count, self._open = 0, folders.Image.open
        monkeypatch.setattr(folders.Image, "open", self)

    def __call__(self, *args, **kwargs):
        self.count += 1
        return self._open(*args, **kwargs)


def same(a: Dataset, b: Dataset) -> bool:
    return all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("train_x", "train_y", "test_x", "test_y")) \
        and a.classes == b.classes


def test_folders_are_decoded_once_then_read_from_the_cache(three, cache_home, monkeypatch):
    _, root = three
    decodes = Decodes(monkeypatch)
    calls = []
    first = load_dataset(str(root), progress=lambda done, total: calls.append((done, total)))
    assert decodes.count == 39 and calls[0] == (0, 39) and calls[-1] == (39, 39)
    assert [p.suffix for p in cache_home.iterdir()] == [".pt"]

    calls.clear()
    second = load_dataset(str(root), progress=lambda done, total: calls.append((done, total)))
    assert decodes.count == 39 and calls == [] and same(first, second)  # no image opened, no progress

    # A touched file (same bytes, new mtime) makes another key: all is decoded again, and the
    # stale entry is replaced, not kept beside the new one.
    png = root / "train" / "b" / "00001.png"
    st = png.stat()
    os.utime(png, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert same(load_dataset(str(root)), first) and decodes.count == 78
    assert len(list(cache_home.iterdir())) == 1
    # A rewritten image is read anew.
    Image.new("RGB", (32, 32), (10, 20, 30)).save(png)
    os.utime(png, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))
    changed = load_dataset(str(root))
    assert decodes.count == 117
    index = [i for i, y in enumerate(changed.train_y.tolist()) if y == 1][0]  # 00001.png is b's first file
    assert changed.train_x[index].flatten(1).tolist() == [[10] * 1024, [20] * 1024, [30] * 1024]
    assert load_dataset(str(root)).train_x[index].eq(changed.train_x[index]).all() and decodes.count == 117


def test_a_damaged_cache_entry_is_decoded_again_and_xdg_cache_home_is_respected(three, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _, root = three
    first = load_dataset(str(root))
    entries = list((tmp_path / "xdg" / "tui-trainer" / "folders").iterdir())
    assert len(entries) == 1
    entries[0].write_bytes(b"not a torch file")
    decodes = Decodes(monkeypatch)
    assert same(load_dataset(str(root)), first) and decodes.count == 39
    assert same(load_dataset(str(root)), first) and decodes.count == 39  # rewritten, so a hit again


def test_folders_image_size(three, cache_home, monkeypatch):
    small, root = three
    Image.new("RGB", (80, 40), (200, 0, 0)).save(root / "test" / "c" / "wide.png")
    cfg = data(image_size=48)
    assert describe_source(str(root), cfg) == f"image folders in {root} (resized to 48x48)"
    ds = load_dataset(str(root), cfg)
    assert ds.train_x.shape == (30, 3, 48, 48) and ds.test_x.shape == (10, 3, 48, 48)
    assert ds.train_x.dtype == torch.uint8 and ds.classes == ["a", "b", "c"]
    # Bilinear, as the reader always resized: the first image of class a is train/a/00000.png.
    want = Image.fromarray(small.train_x[0].permute(1, 2, 0).numpy()).resize((48, 48), Image.Resampling.BILINEAR)
    assert torch.equal(ds.train_x[0], torch.from_numpy(np.array(want)).permute(2, 0, 1))
    assert torch.all(ds.test_x[-1, 0] == 200) and torch.all(ds.test_x[-1, 1:] == 0)
    # 32 and 48 are cached apart; both are hits afterwards.
    at32 = load_dataset(str(root))
    assert at32.train_x.shape == (30, 3, 32, 32) and len(list(cache_home.iterdir())) == 2
    decodes = Decodes(monkeypatch)
    assert same(load_dataset(str(root), cfg), ds) and same(load_dataset(str(root)), at32) and decodes.count == 0


# --- a CIFAR-100 run, trained and evaluated ------------------------------------------------------

def test_a_cifar100_run_trains_and_its_checkpoint_evaluates_to_the_recorded_accuracy(tmp_path):
    data_dir = tmp_path / "data"
    hundred = random_set(320, 100, [f"class{i:02d}" for i in range(100)], seed=4)
    write_cifar100(data_dir, hundred)
    write_cifar_batches(data_dir, make_synthetic(100, 20, seed=0))  # so "auto" alone would not do
    cfg = tiny_config(**{"run.epochs": 1, "data.dataset": "cifar100"})
    result = Trainer(cfg, data=str(data_dir), runs_dir=tmp_path / "runs", preset="c100", device_name="cpu").run()
    assert isinstance(result, RunFinished), result
    run_dir = Path(result.run_dir)
    recorded = {m.epoch: m.test_acc for m in folder.read_metrics(run_dir)}
    # No dataset given: evaluate_checkpoint reads the folder with the checkpoint's own data settings.
    evaluated = evaluate_checkpoint(run_dir / "checkpoints" / "best.pt", str(data_dir), device_name="cpu")
    assert evaluated.n == 100 and len(evaluated.classes) == 100
    assert evaluated.accuracy == recorded[result.best_epoch]
