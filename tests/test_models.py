import pytest
import torch
import torch.nn.functional as F

from tui_trainer.config import MODEL_NAMES
from tui_trainer.models import MODELS, build_model, count_parameters
from tui_trainer.models.airbench import Airbench
from tui_trainer.models.resnet import Residual

torch.set_num_threads(2)


def test_registry_matches_config():
    assert tuple(MODELS) == MODEL_NAMES
    for name, spec in MODELS.items():
        assert spec.name == name and spec.description and "\n" not in spec.description
        assert spec.default_widths


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("num_classes", [10, 7])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_forward_backward(name, num_classes, bf16):
    torch.manual_seed(0)
    model = build_model(name, num_classes)
    x = torch.randn(4, 3, 32, 32)
    if bf16:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(x)
    assert logits.shape == (4, num_classes)
    assert torch.isfinite(logits).all()
    F.cross_entropy(logits.float(), torch.arange(4) % num_classes).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_seed_cnn_parameter_count():
    expected = (
        (3 * 16 * 9 + 16) + 2 * 16        # conv1 + BN(16)
        + (16 * 32 * 9 + 32) + 2 * 32     # conv2 + BN(32)
        + (32 * 64 * 9 + 64) + 2 * 64     # conv3 + BN(64)
        + (64 * 8 * 8 * 100 + 100)        # fc1
        + 2 * 100                         # BatchNorm1d(100)
        + (100 * 10 + 10)                 # fc2
    )
    assert count_parameters(build_model("seed_cnn", 10)) == expected == 434_718


def test_seed_cnn_flattens_by_actual_batch_size():
    model = build_model("seed_cnn", 10)
    model.eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    model.train()
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 10)


def correlated_images(n=512, size=32):
    """Smooth, channel-mixed noise: neighbouring pixels and channels strongly correlated, plus a
    little white noise so every patch direction has variance well above the whitening eps."""
    g = torch.Generator().manual_seed(0)
    smooth = F.interpolate(torch.randn(n, 3, size // 4, size // 4, generator=g), size=size,
                           mode="bilinear", align_corners=False)
    mix = torch.tensor([[1.0, 0.8, 0.6], [0.0, 0.5, 0.4], [0.0, 0.0, 0.3]])
    return torch.einsum("dc,nchw->ndhw", mix, smooth) + 0.1 * torch.randn(n, 3, size, size, generator=g)


def whitened_second_moment(model, images):
    with torch.no_grad():
        y = model.whiten(images)[:, :12] - model.whiten.bias[:12].view(1, -1, 1, 1)
    y = y.permute(0, 2, 3, 1).reshape(-1, 12)
    return y.T @ y / y.size(0)


def test_airbench_whitening():
    model = build_model("airbench", 10)
    assert isinstance(model, Airbench)
    assert not model.whiten.weight.requires_grad
    images = correlated_images()
    # the check below must fail on an un-whitened stem, or it would not test anything
    assert (whitened_second_moment(model, images) - torch.eye(12)).abs().max() > 0.5
    model.init_from_data(images)
    assert not model.whiten.weight.requires_grad
    assert torch.all(model.whiten.bias == 0)
    w = model.whiten.weight
    assert torch.equal(w[12:], -w[:12])
    # all 12 patch directions decorrelated with unit variance; eps shrinks them by under 5% here
    moment = whitened_second_moment(model, images)
    assert (moment - torch.eye(12)).abs().max() < 0.1


@pytest.mark.parametrize("size", [16, 24, 40])
def test_airbench_other_sizes(size):
    model = build_model("airbench", 10)
    model.init_from_data(torch.randn(8, 3, size, size))
    assert model(torch.randn(2, 3, size, size)).shape == (2, 10)


def test_airbench_frozen_bn_scale():
    model = build_model("airbench", 10)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(not m.weight.requires_grad and torch.all(m.weight == 1) for m in norms)
    assert all(m.bias.requires_grad for m in norms)


def test_resnet18_zero_gamma_blocks_start_as_shortcut():
    torch.manual_seed(0)
    model = build_model("resnet18", 10, zero_gamma=True)
    assert all(torch.all(b.bn2.weight == 0) for b in model.blocks)
    with torch.no_grad():
        x = model.stem(torch.randn(4, 3, 32, 32))
        for block in model.blocks:
            y = block(x)
            assert torch.equal(y, torch.relu(block.shortcut(x)))
            if len(block.shortcut) == 0:
                assert torch.equal(y, x)  # x is post-ReLU, so the block is the identity
            x = y
    assert not all(torch.all(b.bn2.weight == 0) for b in build_model("resnet18", 10).blocks)


def test_resnet9_zero_gamma():
    torch.manual_seed(0)
    model = build_model("resnet9", 10, zero_gamma=True)
    residuals = [m for m in model.modules() if isinstance(m, Residual)]
    assert len(residuals) == 2
    for res in residuals:
        assert torch.all(res.branch[-1][1].weight == 0)
        channels = res.branch[0][0].in_channels
        x = torch.randn(2, channels, 4, 4)
        with torch.no_grad():
            assert torch.equal(res(x), x)


@pytest.mark.parametrize("name, widths", [
    ("seed_cnn", [8, 16, 32]), ("airbench", [32, 64, 64]),
    ("resnet9", [16, 32, 64, 128]), ("resnet18", [16, 32, 64, 128])])
def test_widths_override(name, widths):
    default = build_model(name, 10)
    small = build_model(name, 10, widths=widths)
    assert count_parameters(small) < count_parameters(default)
    assert count_parameters(build_model(name, 10, widths=[])) == count_parameters(default)
    assert small(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match=f"takes {len(widths)} widths"):
        build_model(name, 10, widths=widths[:-1])


def test_unknown_name():
    with pytest.raises(ValueError, match="allowed: seed_cnn, airbench, resnet9, resnet18"):
        build_model("vgg16", 10)


def test_fast_elu_matches_torch_elu_in_value_and_gradient():
    from tui_trainer.models.elu import ELU
    x = torch.linspace(-20, 20, 4001, dtype=torch.float64).view(1, 1, 1, -1)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = torch.nn.functional.elu(a), ELU()(b)
    (ya * x.cos()).sum().backward()
    (yb * x.cos()).sum().backward()
    assert torch.allclose(ya, yb, atol=1e-12) and torch.allclose(a.grad, b.grad, atol=1e-12)
