"""The GPU path, exercised on a CPU: what a first CUDA run needs from the engine (issue 23).

Where a GPU's own state is involved (its random generator, its device queries) a real CPU
generator or a fixed answer stands in for the card; everything else is the engine itself. With a
GPU and TUI_TRAINER_TEST_GPU=1 the last test trains on it."""
import os

import pytest
import torch
import torch.distributed as dist
from torch import nn

from tui_trainer.control import RunControl
from tui_trainer.data import load_dataset
from tui_trainer.events import EpochEnded, RunFailed, RunFinished
from tui_trainer.training import checkpoints, device
from tui_trainer.training.distributed import lost_contact
from tui_trainer.training.trainer import Trainer
from tui_trainer.workspace import folder

from conftest import tiny_config


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


@pytest.fixture
def torch_settings():
    """tune_gpu changes process-wide settings: put them back for the tests after."""
    kept = torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark
    yield
    torch.set_float32_matmul_precision(kept[0])
    torch.backends.cudnn.benchmark = kept[1]


def test_a_cuda_placement_turns_on_cudnn_benchmark_and_tf32_only_for_fp32(torch_settings):
    device.tune_gpu(device.Placement(torch.device("cpu"), False))
    assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cudnn.benchmark
    device.tune_gpu(device.Placement(torch.device("cuda"), True))  # bf16: its matmuls are bf16 already
    assert torch.backends.cudnn.benchmark and torch.get_float32_matmul_precision() == "highest"
    device.tune_gpu(device.Placement(torch.device("cuda"), False))
    assert torch.get_float32_matmul_precision() == "high"  # TF32 tensor cores
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


@pytest.mark.parametrize(("capability", "emulated_only", "fast"), [((7, 0), True, False), ((7, 5), True, False),
                                                                   ((8, 0), False, True), ((9, 0), False, True)])
def test_auto_precision_takes_bf16_only_on_a_gpu_that_computes_it(monkeypatch, capability, emulated_only, fast):
    # The card's answers stand in for a GPU; torch's own is_bf16_supported says True for a V100
    # (emulated) unless asked for native support.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda dev=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: including_emulation or not emulated_only)
    assert device.gpu_has_fast_bf16(torch.device("cuda")) is fast


def test_the_gpus_random_state_is_saved_and_restored_per_rank(monkeypatch):
    # A real generator stands in for the card's: what dropout on CUDA draws from.
    card = torch.Generator().manual_seed(7)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda dev=None: card.get_state())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, dev=None: card.set_state(state))
    cuda = torch.device("cuda", 0)
    ranks = []
    for rank in range(2):  # two ranks, each its own stream
        card.manual_seed(100 + rank)
        torch.manual_seed(200 + rank)
        ranks.append(device.rng_state(cuda))
    assert set(ranks[0]) == {"cpu", "cuda"}
    card.manual_seed(101)
    expected = torch.rand(3, generator=card)  # rank 1's next draws on the card
    card.manual_seed(0)
    torch.manual_seed(0)
    device.set_rng_state(ranks[1], cuda)
    assert torch.equal(torch.rand(3, generator=card), expected)
    torch.manual_seed(201)
    cpu_expected = torch.rand(3)
    device.set_rng_state(ranks[1], cuda)
    assert torch.equal(torch.rand(3), cpu_expected)
    # A last.pt from before: the CPU's state alone, a tensor.
    device.set_rng_state(ranks[1]["cpu"], torch.device("cpu"))
    assert torch.equal(torch.rand(3), cpu_expected)


def test_optimizer_state_takes_its_parameters_layout_on_resume():
    """A run begun in fp32 (contiguous) and resumed where it resolves to bf16 (channels_last):
    CUDA's fused SGD/Adam refuse state and parameters of different strides."""
    torch.manual_seed(0)
    began = nn.Conv2d(3, 8, 3)
    optimizer = torch.optim.SGD(began.parameters(), lr=0.1, momentum=0.9)
    began(torch.randn(2, 3, 8, 8)).sum().backward()
    optimizer.step()
    payload = {"state_dict": began.state_dict(), "optimizer": optimizer.state_dict(),
               "rng": device.rng_state(torch.device("cpu")), "epoch": 1, "step": 0}
    resumed = nn.Conv2d(3, 8, 3).to(memory_format=torch.channels_last)
    again = torch.optim.SGD(resumed.parameters(), lr=0.1, momentum=0.9)
    checkpoints.restore(payload, resumed, again)
    momentum = again.state[resumed.weight]["momentum_buffer"]
    assert momentum.stride() == resumed.weight.stride() != began.weight.stride()
    assert torch.equal(momentum, optimizer.state[began.weight]["momentum_buffer"])


def test_running_out_of_gpu_memory_is_one_line_and_keeps_last_pt(tmp_path, synthetic):
    """The second epoch's fifth forward pass raises what CUDA raises when the card is full."""
    calls = {"n": 0}
    steps_per_epoch = len(synthetic.train_x) // 64

    def full_card(module, args, output):
        if module.__class__.__name__ == "SeedCNN" and module.training:
            calls["n"] += 1
            if calls["n"] == steps_per_epoch + 5:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    hook = nn.modules.module.register_module_forward_hook(full_card)
    try:
        result = Trainer(tiny_config(**{"run.epochs": 3}), data="synthetic", runs_dir=tmp_path / "runs",
                         dataset=synthetic).run()
    finally:
        hook.remove()
    assert isinstance(result, RunFailed), result
    assert "\n" not in result.message and "unexpected" not in result.message
    assert "out of GPU memory at data.batch_size 64" in result.message
    assert "--set data.batch_size=32" in result.message and "last.pt is kept" in result.message
    run_dir = folder.Path(result.run_dir)
    assert checkpoints.load(run_dir / "checkpoints" / "last.pt")["epoch"] == 1
    resumed = Trainer(resume=run_dir, dataset=synthetic).run()  # memory freed: the run goes on
    assert isinstance(resumed, RunFinished) and resumed.best_acc > 0.5


def test_epochs_record_their_training_seconds_beside_their_wall_seconds(tmp_path, synthetic):
    events = []
    Trainer(tiny_config(), data="synthetic", runs_dir=tmp_path / "runs", dataset=synthetic, sink=events.append).run()
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert all(0 < e.train_seconds < e.seconds for e in epochs)  # every epoch evaluates, outside training


@pytest.mark.parametrize("text", [
    "NCCL error in: /pytorch/torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:3356, remote process exited or there "
    "was a network error, NCCL version 2.27.3\nncclRemoteError: A call failed possibly due to a network error",
    "[Rank 1] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=5, OpType=ALLREDUCE) ran for 1800000 "
    "milliseconds before timing out.",
])
def test_a_lost_nccl_peer_reads_as_lost_contact_not_unexpected(text):
    reason = lost_contact(dist.DistBackendError(text))
    assert reason and "\n" not in reason and "ProcessGroupNCCL.cpp" not in reason
    assert lost_contact(RuntimeError("CUDA error: an illegal memory access was encountered")) is None


def test_processes_side_by_side_take_one_gpu_each_in_turn(monkeypatch):
    assert device.gpu_slot_env("cpu", 3) == {}
    monkeypatch.setattr(device, "gpu_count", lambda name: 4 if name != "cpu" else 0)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [device.gpu_slot_env("auto", s)["CUDA_VISIBLE_DEVICES"] for s in range(6)] == ["0", "1", "2", "3", "0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")  # the user's choice of GPUs is kept
    assert [device.gpu_slot_env("cuda", s)["CUDA_VISIBLE_DEVICES"] for s in range(3)] == ["2", "5", "2"]
    monkeypatch.setattr(device, "gpu_count", lambda name: 1)
    assert device.gpu_slot_env("cuda", 1) == {}


@pytest.mark.skipif(not (os.environ.get("TUI_TRAINER_TEST_GPU") and torch.cuda.is_available()),
                    reason="trains on a CUDA GPU: TUI_TRAINER_TEST_GPU=1 on a machine with one")
def test_on_a_gpu_a_stop_and_resume_repeats_the_dropout_masks(tmp_path, synthetic):
    """seed_cnn's dropout draws from the GPU's generator: a resume restores it, so the resumed
    run's losses are the uninterrupted run's (within cuDNN's own nondeterminism)."""
    cfg = tiny_config(**{"run.epochs": 3})
    whole = Trainer(cfg, data="synthetic", runs_dir=tmp_path / "a", dataset=synthetic, device_name="cuda").run()
    control = RunControl()

    def stop_in_epoch_two(event):
        if isinstance(event, EpochEnded):
            control.request_stop()
    cut = Trainer(cfg, data="synthetic", runs_dir=tmp_path / "b", dataset=synthetic, device_name="cuda",
                  control=control, sink=stop_in_epoch_two).run()
    assert isinstance(cut, RunFinished) and cut.stopped
    resumed = Trainer(resume=cut.run_dir, dataset=synthetic, device_name="cuda").run()
    a = folder.read_metrics(folder.Path(whole.run_dir))
    b = folder.read_metrics(folder.Path(resumed.run_dir))
    assert [m.epoch for m in b] == [1, 2, 3]
    for x, y in zip(a, b):
        assert abs(x.train_loss - y.train_loss) < 1e-3 * x.train_loss
