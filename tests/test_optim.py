import io

import pytest
import torch
from torch import nn

from tui_trainer.config import OptimizerConfig
from tui_trainer.training.ema import WeightEMA
from tui_trainer.training.muon import MuonSGD, orthogonalize
from tui_trainer.training.optim import build_optimizer, set_lr


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 10))


def descend(opt, loss, steps: int) -> tuple[float, float]:
    """The loss before and after `steps` optimizer steps on it."""
    start = loss().item()
    for _ in range(steps):
        opt.zero_grad()
        loss().backward()
        opt.step()
    return start, loss().item()


def test_no_bias_decay_groups():
    model = small_net()
    model[0].weight.requires_grad_(False)
    opt = build_optimizer(model, OptimizerConfig(name="sgd", weight_decay=5e-4, no_bias_decay=True))
    by_decay = {g["weight_decay"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    assert set(by_decay) == {5e-4, 0.0}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert by_decay[0.0] == {id(p) for p in trainable if p.ndim <= 1}
    assert by_decay[5e-4] == {id(p) for p in trainable if p.ndim > 1}
    assert id(model[0].weight) not in by_decay[0.0] | by_decay[5e-4]


def test_bias_lr_scale_keeps_the_decay_per_step_of_the_weights():
    model = small_net()
    opt = build_optimizer(model, OptimizerConfig(name="sgd", weight_decay=0.04, no_bias_decay=False, bias_lr_scale=64.0))
    weights, vectors = opt.param_groups
    assert len(weights["params"]) + len(vectors["params"]) == len(list(model.parameters()))
    assert all(p.ndim > 1 for p in weights["params"]) and all(p.ndim <= 1 for p in vectors["params"])
    set_lr(opt, 0.5)
    assert (weights["lr"], vectors["lr"]) == (0.5, 32.0)
    assert weights["lr"] * weights["weight_decay"] == pytest.approx(vectors["lr"] * vectors["weight_decay"])


def test_hyperparameters_reach_torch():
    model = small_net()
    sgd = build_optimizer(model, OptimizerConfig(name="sgd", momentum=0.0, nesterov=True))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["nesterov"] is False
    sgd = build_optimizer(model, OptimizerConfig(name="sgd", momentum=0.8, nesterov=True))
    assert sgd.defaults["nesterov"] is True and sgd.defaults["momentum"] == 0.8
    adam = build_optimizer(model, OptimizerConfig(name="adam", momentum=0.85))
    assert type(adam) is torch.optim.Adam and adam.defaults["betas"] == (0.85, 0.999)
    adamw = build_optimizer(model, OptimizerConfig(name="adamw"))
    assert type(adamw) is torch.optim.AdamW
    assert all(opt.defaults["fused"] for opt in (sgd, adam, adamw))  # measured faster on CPU


@pytest.mark.parametrize("name,lr", [("sgd", 0.05), ("adam", 0.05), ("adamw", 0.05)])
def test_steps_reduce_regression_loss(name, lr):
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    y = x @ torch.randn(5, 1) + 0.5
    model = nn.Linear(5, 1)
    opt = build_optimizer(model, OptimizerConfig(name=name, lr=lr, weight_decay=1e-4))

    start, end = descend(opt, lambda: ((model(x) - y) ** 2).mean(), 50)
    assert end < 0.2 * start


@pytest.mark.parametrize("shape", [(16, 72), (72, 16), (32, 32)])
def test_orthogonalize_brings_every_singular_value_near_one(shape):
    torch.manual_seed(0)
    k = min(shape)
    u, _ = torch.linalg.qr(torch.randn(shape[0], k))
    v, _ = torch.linalg.qr(torch.randn(shape[1], k))
    g = u @ torch.diag(torch.logspace(-2, 0, k)) @ v.T  # condition number 100
    s = torch.linalg.svdvals(orthogonalize(g).float())
    assert orthogonalize(g).shape == g.shape
    assert s.min() > 0.6 and s.max() < 1.25  # Muon's iteration trades exactness for few steps


def test_muon_takes_the_conv_filters_and_sgd_the_rest():
    model = small_net()
    cfg = OptimizerConfig(name="muon", lr=0.5, muon_lr=0.2, muon_momentum=0.6, momentum=0.85)
    opt = build_optimizer(model, cfg)
    assert isinstance(opt, MuonSGD)
    muon = [g for g in opt.param_groups if g["muon"]]
    assert len(muon) == 1 and muon[0]["params"] == [model[0].weight] and muon[0]["momentum"] == 0.6
    others = {id(p) for g in opt.param_groups if not g["muon"] for p in g["params"]}
    assert others == {id(p) for p in model.parameters()} - {id(model[0].weight)}
    set_lr(opt, 0.25)  # half the peak: the filters get half of theirs
    assert muon[0]["lr"] == pytest.approx(0.1)


def test_muon_learns_and_keeps_filter_norms_fixed():
    torch.manual_seed(0)
    x, y = torch.randn(64, 3, 6, 6), torch.randint(0, 10, (64,))
    model = small_net()
    opt = build_optimizer(model, OptimizerConfig(name="muon", lr=0.05, muon_lr=0.05))

    start, end = descend(opt, lambda: nn.functional.cross_entropy(model(x), y), 60)
    assert end < 0.3 * start
    conv = model[0].weight
    # normalized before each update, which then moves it by lr * sqrt(min(out, in*k*k)) at most
    assert abs(conv.norm().item() - len(conv) ** 0.5) < 0.05 * 8**0.5 * 2


def test_muon_state_round_trip_continues_identically():
    torch.manual_seed(0)
    x, y = torch.randn(16, 3, 6, 6), torch.randint(0, 10, (16,))
    a = small_net()
    opt_a = build_optimizer(a, OptimizerConfig(name="muon", lr=0.05))

    descend(opt_a, lambda: nn.functional.cross_entropy(a(x), y), 3)
    b = small_net()
    b.load_state_dict(a.state_dict())
    opt_b = build_optimizer(b, OptimizerConfig(name="muon", lr=0.05))
    saved = io.BytesIO()  # through bytes, as a checkpoint: a live state_dict shares its buffers
    torch.save(opt_a.state_dict(), saved)
    saved.seek(0)
    opt_b.load_state_dict(torch.load(saved, weights_only=True))
    descend(opt_a, lambda: nn.functional.cross_entropy(a(x), y), 1)
    descend(opt_b, lambda: nn.functional.cross_entropy(b(x), y), 1)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_set_lr_respects_lr_scale():
    model = small_net()
    opt = build_optimizer(model, OptimizerConfig(name="sgd"))
    opt.param_groups[1]["lr_scale"] = 0.1
    set_lr(opt, 0.5)
    assert opt.param_groups[0]["lr"] == 0.5
    assert opt.param_groups[1]["lr"] == pytest.approx(0.05)


def test_ema_matches_hand_computed_average():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = WeightEMA(model, decay=0.9)
    for w in (2.0, 4.0, -1.0):
        with torch.no_grad():
            model.weight.fill_(w)
        ema.update(model)
    # 1 -> 0.9*1 + 0.1*2 = 1.1 -> 0.9*1.1 + 0.1*4 = 1.39 -> 0.9*1.39 + 0.1*(-1) = 1.151
    assert ema.state_dict()["weight"].item() == pytest.approx(1.151, rel=1e-6)


def test_ema_averages_buffers_and_copies_counters():
    model = small_net()
    ema = WeightEMA(model, decay=0.5)
    model.train()
    model(torch.randn(4, 3, 6, 6) + 3.0)
    ema.update(model)
    bn = model[1]
    shadow = ema.state_dict()
    assert torch.allclose(shadow["1.running_mean"], 0.5 * bn.running_mean)  # started at zeros
    assert shadow["1.num_batches_tracked"].item() == 1


def test_swapped_restores_weights():
    model = small_net()
    ema = WeightEMA(model, decay=0.0)  # decay 0: the EMA is exactly the last weights seen
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    ema_weights = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    original = {k: v.clone() for k, v in model.state_dict().items()}
    with ema.swapped(model) as m:
        assert m is model
        for k, v in model.state_dict().items():
            assert torch.equal(v, ema_weights[k])
    for k, v in model.state_dict().items():
        assert torch.equal(v, original[k])


def test_swapped_restores_after_an_exception():
    model = small_net()
    ema = WeightEMA(model, decay=0.9)
    with torch.no_grad():
        model[4].weight.add_(1.0)
    before = model[4].weight.clone()
    with pytest.raises(RuntimeError):
        with ema.swapped(model):
            raise RuntimeError("evaluation failed")
    assert torch.equal(model[4].weight, before)


def test_ema_state_dict_round_trip(tmp_path):
    model = small_net()
    ema = WeightEMA(model, decay=0.7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    ema.update(model)
    torch.save(ema.state_dict(), tmp_path / "ema.pt")
    state = torch.load(tmp_path / "ema.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())

    other = WeightEMA(small_net(), decay=0.7)
    other.load_state_dict(state)
    for k, v in ema.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)
    fresh = small_net()
    other.copy_to(fresh)
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, state[k])
    with pytest.raises(KeyError):
        other.load_state_dict({"nope": torch.zeros(1)})
