import os
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tui_trainer.config import AugmentConfig
from tui_trainer.data import DataError, Dataset, describe_source, load_dataset, pipeline
from tui_trainer.data.pipeline import Batch, TrainBatches, mixed_loss, normalize
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.data.writers import write_cifar_batches, write_image_folders

MEAN, STD = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]
NO_AUG = AugmentConfig(crop_padding=0, flip="none")


@pytest.fixture(scope="module")
def small() -> Dataset:
    return make_synthetic(n_train=103, n_test=17, seed=3)


def batches(x, aug=NO_AUG, batch_size=16, seed=0, y=None, **kw) -> TrainBatches:
    y = torch.arange(len(x)) % 10 if y is None else y
    args = dict(mean=MEAN, std=STD, num_classes=10, seed=seed, device="cpu", channels_last=False,
                dtype=torch.float32) | kw
    return TrainBatches(x, y, aug, batch_size, **args)


# --- CIFAR batches ------------------------------------------------------------------------------

def test_cifar_round_trip(tmp_path, small):
    write_cifar_batches(tmp_path, small)
    assert describe_source(str(tmp_path)) == f"CIFAR-10 found in {tmp_path / 'cifar-10-batches-py'}"
    ds = load_dataset(str(tmp_path))
    for name in ("train_x", "train_y", "test_x", "test_y"):
        got, want = getattr(ds, name), getattr(small, name)
        assert got.dtype == want.dtype and torch.equal(got, want), name
    assert ds.classes == small.classes and ds.num_classes == 10
    # Pointing at the batches folder itself works too.
    assert torch.equal(load_dataset(str(tmp_path / "cifar-10-batches-py")).test_x, small.test_x)


def test_cifar_python2_bytes_keys(tmp_path):
    # The official files were written by Python 2: keys and names load as bytes.
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data = np.arange(4 * 3072, dtype=np.int64).astype(np.uint8).reshape(4, 3072)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": data, b"labels": [0, 1, 1, 0]}, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"cat", b"dog"]}, protocol=2))
    ds = load_dataset(str(tmp_path))
    assert ds.classes == ["cat", "dog"] and ds.train_x.shape == (20, 3, 32, 32)
    assert torch.equal(ds.test_x[1, 2], torch.from_numpy(data[1, 2048:].reshape(32, 32)))


@pytest.mark.parametrize("protocol", [4, 5])
def test_cifar_newer_pickle_protocols(tmp_path, small, protocol):
    folder = write_cifar_batches(tmp_path, small)
    batch = {"data": small.test_x.reshape(17, -1).numpy(), "labels": small.test_y.numpy()}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    ds = load_dataset(str(tmp_path))
    assert torch.equal(ds.test_x, small.test_x) and torch.equal(ds.test_y, small.test_y)


class Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_hostile_pickle_is_refused(tmp_path, small):
    folder = write_cifar_batches(tmp_path, small)
    marker = tmp_path / "pwned"
    (folder / "data_batch_2").write_bytes(pickle.dumps({"data": Hostile(marker)}, protocol=2))
    with pytest.raises(DataError, match="data_batch_2.*refused.*system"):
        load_dataset(str(tmp_path))
    assert not marker.exists()


def test_truncated_and_missing_batches(tmp_path, small):
    folder = write_cifar_batches(tmp_path, small)
    raw = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="data_batch_3.*corrupt or truncated"):
        load_dataset(str(tmp_path))
    (folder / "test_batch").unlink()
    assert "test_batch" in describe_source(str(tmp_path))
    with pytest.raises(DataError, match="lacks test_batch"):
        load_dataset(str(tmp_path))


def test_wrong_labels_are_reported(tmp_path, small):
    folder = write_cifar_batches(tmp_path, small)
    batch = {"data": small.test_x.reshape(17, -1).numpy(), "labels": [12] * 17}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match="test_batch.*class indices below 10"):
        load_dataset(str(tmp_path))


def test_offline_without_data(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    assert describe_source(str(tmp_path)).startswith("missing:")
    with pytest.raises(DataError, match="download failed.*--data synthetic"):
        load_dataset(str(tmp_path))


# --- image folders -------------------------------------------------------------------------------

def test_image_folders(tmp_path, small):
    three = replace(small, train_x=small.train_x[:12], train_y=torch.arange(12) % 3,
                    test_x=small.test_x[:4], test_y=torch.tensor([0, 1, 1, 2]), classes=["a", "b", "c"])
    write_image_folders(tmp_path, three)
    Image.new("L", (45, 20), 200).save(tmp_path / "train" / "c" / "odd.png")
    (tmp_path / "train" / "c" / "notes.txt").write_text("not an image")
    assert describe_source(str(tmp_path)) == f"image folders in {tmp_path}"
    ds = load_dataset(str(tmp_path))
    assert ds.classes == ["a", "b", "c"] and ds.num_classes == 3
    assert ds.train_x.shape == (13, 3, 32, 32) and ds.train_x.dtype == torch.uint8
    # Files are read class by class, in name order; the odd one is the last of class c.
    order = torch.argsort(three.train_y, stable=True)
    assert torch.equal(ds.train_x[:12], three.train_x[order])
    assert torch.equal(ds.train_y, torch.tensor([0] * 4 + [1] * 4 + [2] * 5))
    assert torch.all(ds.train_x[12] == 200)
    assert torch.equal(ds.test_x, three.test_x) and torch.equal(ds.test_y, three.test_y)


@pytest.mark.parametrize("case, message", [
    ("empty test", "no images in .*test"),
    ("unknown test class", "test class 'zebra' has no folder"),
    ("unreadable", r"unreadable image .*broken\.png"),
])
def test_image_folder_errors(tmp_path, small, case, message):
    two = replace(small, train_x=small.train_x[:4], train_y=torch.tensor([0, 1, 0, 1]),
                  test_x=small.test_x[:2], test_y=torch.tensor([0, 1]), classes=["a", "b"])
    write_image_folders(tmp_path, two)
    if case == "empty test":
        for png in (tmp_path / "test").rglob("*.png"):
            png.unlink()
    elif case == "unknown test class":
        (tmp_path / "test" / "zebra").mkdir()
    else:
        (tmp_path / "train" / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=message):
        load_dataset(str(tmp_path))


# --- synthetic -----------------------------------------------------------------------------------

def test_synthetic_is_deterministic():
    a, b = make_synthetic(200, 50, seed=0), make_synthetic(200, 50, seed=0)
    c = make_synthetic(200, 50, seed=1)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)
    assert a.train_x.shape == (200, 3, 32, 32) and a.train_x.dtype == torch.uint8
    assert a.train_y.dtype == torch.int64 and torch.bincount(a.train_y).tolist() == [20] * 10
    assert a.num_classes == 10 and "stripes-h" in a.classes and a.source == "synthetic"


# --- pipeline ------------------------------------------------------------------------------------

def test_batch_shapes_and_normalization(small):
    tb = batches(small.train_x, AugmentConfig(), batch_size=32)
    assert tb.steps_per_epoch == 103 // 32
    got = list(tb.epoch(0))
    assert len(got) == 3
    low = (0 - torch.tensor(MEAN)) / torch.tensor(STD)
    high = (1 - torch.tensor(MEAN)) / torch.tensor(STD)
    for b in got:
        assert b.inputs.shape == (32, 3, 32, 32) and b.inputs.dtype == torch.float32
        assert b.targets_a.shape == (32,) and b.lam == 1.0
        per_channel = b.inputs.transpose(0, 1).flatten(1)
        assert torch.all(per_channel.min(1).values >= low - 1e-5)
        assert torch.all(per_channel.max(1).values <= high + 1e-5)
    x = small.train_x[:5]
    want = (x.float() / 255 - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    assert torch.allclose(normalize(x, MEAN, STD), want, atol=1e-5)


def test_without_augmentation_an_epoch_is_a_shuffle(small):
    tb = batches(small.train_x, y=small.train_y, batch_size=10)
    seen = torch.cat([b.inputs for b in tb.epoch(0)])
    labels = torch.cat([b.targets_a for b in tb.epoch(0)])
    plain = normalize(small.train_x, MEAN, STD)
    match = (seen[:, None] == plain[None]).flatten(2).all(2)  # (seen, dataset) pairs that are equal
    assert match.sum(1).min() >= 1 and len(seen) == 100
    index = match.float().argmax(1)
    assert len(set(index.tolist())) == 100 and torch.equal(labels, small.train_y[index])
    assert not torch.equal(index, torch.arange(100))


def test_same_seed_same_batches(small):
    aug = AugmentConfig(cutout=6, mixup_alpha=0.5, cutmix_alpha=1.0)
    a = list(batches(small.train_x, aug, seed=5).epoch(2))
    b = list(batches(small.train_x, aug, seed=5).epoch(2))
    c = list(batches(small.train_x, aug, seed=6).epoch(2))
    for x, y in zip(a, b):
        assert torch.equal(x.inputs, y.inputs) and torch.equal(x.targets_b, y.targets_b) and x.lam == y.lam
    assert not torch.equal(a[0].inputs, c[0].inputs)


def test_epochs_differ(small):
    tb = batches(small.train_x, AugmentConfig())
    assert not torch.equal(tb.augmented(0), tb.augmented(1))


def test_fixed_augmentation_keeps_each_images_crop_flip_and_cutout(small):
    aug = AugmentConfig(crop_padding=4, flip="random", cutout=6, fixed=True)
    tb = batches(small.train_x[:100], aug, seed=3, batch_size=10)  # no image left out of an epoch
    e0, e1 = tb.augmented(0), tb.augmented(5)
    assert torch.equal(e0, e1)  # per image, the same every epoch
    assert not torch.equal(e0, small.train_x[:100])  # yet augmented
    assert not torch.equal(e0, batches(small.train_x[:100], aug, seed=4).augmented(0))  # from the seed
    # Each epoch still shuffles: the batches of two epochs hold the same images in other orders.
    first, later = (torch.cat([b.inputs for b in tb.epoch(e)]) for e in (0, 5))
    assert not torch.equal(first, later)
    assert torch.equal(first.flatten(1).sum(1).sort().values, later.flatten(1).sum(1).sort().values)


def test_ranks_split_each_global_batch_of_the_same_epoch(small):
    """Two ranks' slices of a step, side by side, are the one-process batch of that step."""
    aug = AugmentConfig(crop_padding=4, flip="random", cutout=6)
    one = list(batches(small.train_x, aug, batch_size=20, seed=2).epoch(3))
    ranks = [list(batches(small.train_x, aug, batch_size=20, seed=2, shard=(r, 2)).epoch(3)) for r in (0, 1)]
    assert len(one) == len(ranks[0]) == len(ranks[1]) == 5
    for whole, a, b in zip(one, *ranks):
        assert len(a.inputs) == len(b.inputs) == 10
        assert torch.equal(torch.cat([a.inputs, b.inputs]), whole.inputs)
        assert torch.equal(torch.cat([a.targets_a, b.targets_a]), whole.targets_a)


def test_alternating_flip(small):
    tb = batches(small.train_x, AugmentConfig(crop_padding=0, flip="alternating"))
    e0, e1, e2 = tb.augmented(0), tb.augmented(1), tb.augmented(2)
    assert torch.equal(e1, e0.flip(3)) and torch.equal(e2, e0)
    flipped = (e0 != small.train_x).flatten(1).any(1)
    assert 0.2 < flipped.float().mean() < 0.8
    assert torch.equal(e0[flipped], small.train_x[flipped].flip(3))


def test_random_flip(small):
    tb = batches(small.train_x, AugmentConfig(crop_padding=0, flip="random"))
    e0, e1 = tb.augmented(0), tb.augmented(1)
    for e in (e0, e1):
        same = (e == small.train_x).flatten(1).all(1)
        assert torch.equal(e[~same], small.train_x[~same].flip(3)) and 0.2 < same.float().mean() < 0.8
    assert not torch.equal(e0, e1)


@pytest.mark.parametrize("pad_mode", ["zeros", "reflect"])
def test_crop_shifts_content(small, pad_mode):
    p = 4
    out = batches(small.train_x, AugmentConfig(crop_padding=p, pad_mode=pad_mode, flip="none")).augmented(0)
    mode = "reflect" if pad_mode == "reflect" else "constant"
    padded = F.pad(small.train_x.float(), (p,) * 4, mode=mode).to(torch.uint8)
    windows = padded.unfold(2, 32, 1).unfold(3, 32, 1)  # (N, 3, 9, 9, 32, 32)
    hits = (windows == out[:, :, None, None]).flatten(4).all(4).all(1)  # (N, 9, 9)
    assert torch.all(hits.flatten(1).any(1))  # every image is one window of its padded original
    assert (~hits[:, p, p]).float().mean() > 0.5  # and most are shifted


def test_cutout_zeroes_a_square(small):
    s = 8
    white = torch.full_like(small.train_x, 255)
    out = batches(white, AugmentConfig(crop_padding=0, flip="none", cutout=s)).augmented(0)
    zero = out == 0
    assert torch.equal(zero[:, 0], zero[:, 1]) and torch.equal(zero[:, 0], zero[:, 2])
    assert torch.all(zero[:, 0].flatten(1).sum(1) == s * s)
    rows, cols = zero[:, 0].any(2), zero[:, 0].any(1)
    assert torch.all(rows.sum(1) == s) and torch.all(cols.sum(1) == s)  # s x s: a square


def test_mixup_and_cutmix(small):
    for aug in (AugmentConfig(mixup_alpha=1.0), AugmentConfig(cutmix_alpha=1.0)):
        plain = list(batches(small.train_x, replace(aug, mixup_alpha=0.0, cutmix_alpha=0.0)).epoch(0))
        mixed = list(batches(small.train_x, aug).epoch(0))
        for p, m in zip(plain, mixed):
            assert 0.0 <= m.lam <= 1.0 and torch.equal(m.targets_a, p.targets_a)
            assert sorted(m.targets_b.tolist()) == sorted(m.targets_a.tolist())
            if aug.mixup_alpha:
                assert torch.allclose(m.inputs, m.lam * p.inputs + (1 - m.lam) * p.inputs.flip(0), atol=1e-5)
            else:
                pasted = (m.inputs != p.inputs).any(1).any(0)  # pixels taken from the partner images
                assert pasted.sum().item() == pytest.approx((1 - m.lam) * 32 * 32)
                assert torch.equal(m.inputs[:, :, pasted], p.inputs.flip(0)[:, :, pasted])
    never = list(batches(small.train_x, AugmentConfig(mixup_alpha=1.0, mix_prob=0.0)).epoch(0))
    assert all(b.lam == 1.0 and b.targets_b is b.targets_a for b in never)


def test_mixed_loss():
    logits = torch.randn(8, 10)
    a, b = torch.arange(8), torch.arange(8).flip(0)
    ce = F.cross_entropy(logits, a, label_smoothing=0.1)
    assert torch.equal(mixed_loss(logits, Batch(None, a, a, 1.0), 0.1), ce)
    want = 0.3 * ce + 0.7 * F.cross_entropy(logits, b, label_smoothing=0.1)
    assert torch.allclose(mixed_loss(logits, Batch(None, a, b, 0.3), 0.1), want)


def test_channels_last_and_bfloat16(small):
    aug = AugmentConfig(cutout=4, cutmix_alpha=1.0)
    b = next(batches(small.train_x, aug, channels_last=True, dtype=torch.bfloat16).epoch(0))
    assert b.inputs.dtype == torch.bfloat16 and b.inputs.is_contiguous(memory_format=torch.channels_last)
    ref = next(batches(small.train_x, aug).epoch(0))
    assert torch.allclose(b.inputs.float(), ref.inputs, atol=0.05)


def test_test_batches_keep_order(small):
    got = list(pipeline.test_batches(small.test_x, small.test_y, 5, MEAN, STD, channels_last=True))
    assert [len(y) for _, y in got] == [5, 5, 5, 2]
    assert torch.equal(torch.cat([x for x, _ in got]), normalize(small.test_x, MEAN, STD))
    assert torch.equal(torch.cat([y for _, y in got]), small.test_y)
    assert got[0][0].is_contiguous(memory_format=torch.channels_last)


def test_bad_batch_size_and_labels(small):
    with pytest.raises(DataError, match="batch size 512 is larger than the 103 training images"):
        batches(small.train_x, batch_size=512)
    with pytest.raises(DataError, match="class indices 0..9"):
        batches(small.train_x, y=torch.full((103,), 10))
