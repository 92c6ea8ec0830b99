"""One run on several processes: torchrun's environment, its process group, what the ranks agree on.

torchrun (or `tui-trainer train --nproc N`, which calls the same launcher) starts every rank with
RANK, WORLD_SIZE and LOCAL_RANK set. Each rank then trains a slice of every global batch under
DistributedDataParallel, which averages the gradients, so every rank holds the same weights after
every step. Rank 0 alone writes the run folder; what only rank 0 knows (the run folder, a stop, a
pause, a failed write) reaches the others through the small collectives below, at the same step on
every rank, so that no rank is ever left waiting in a collective the others will not join.

A run on one process gets `Solo`, which answers the same questions without collectives, so the
trainer's loop has no branch for it.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import re

import torch
import torch.distributed as dist

from ..config import Config
from ..text import clip

# A stop or pause is agreed every this many steps: each agreement is a host sync, which on a GPU
# stalls the queue of kernels, and a stop that waits 8 steps still lands well inside a second.
AGREE_EVERY_STEPS = 8
# Long enough for the slowest rank to decode its data before the first collective.
TIMEOUT = datetime.timedelta(minutes=30)


class DistributedError(Exception):
    """A problem with the processes of a run (launch, sizes, options); one line for the user."""


LOST_CONTACT = "lost contact with the run's other processes"


def lost_contact(error: BaseException) -> str | None:
    """A short reason when `error` is a collective that failed because a peer process died or hung
    up (gloo raises plain RuntimeErrors for it); None for any other error."""
    text = str(error)
    # gloo reports a peer's socket closing mid-collective as a plain RuntimeError.
    hung_up = "gloo" in text and any(word in text for word in ("Connection", "closed", "Read error", "Write error"))
    # NCCL as a DistBackendError: "remote process exited or there was a network error", a
    # communicator aborted by the watchdog, or a collective that timed out waiting for a peer.
    nccl = isinstance(error, dist.DistBackendError) and any(
        words in text.lower() for words in ("remote process exited", "network error", "aborted", "timed out", "timeout"))
    if not (isinstance(error, dist.DistNetworkError) or hung_up or nccl):
        return None
    # "[.../pair.cc:545] Read error [127.0.0.1]:7572: Connection reset by peer. This is typically ..."
    # "NCCL error in: .../ProcessGroupNCCL.cpp:3356, remote process exited or ..."
    first = re.sub(r"^NCCL error in: \S+, ", "", text.splitlines()[0])
    return clip(re.sub(r"\[[^\]]*\]:?\d*:?\s*", "", first).split(". ")[0].strip(), 120)


def launched() -> bool:
    """Whether this process is a rank started by torchrun."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def check_split(cfg: Config, world: int, device_type: str) -> None:
    """What a run of `world` processes refuses: a global batch that does not split evenly, and
    SyncBatchNorm without CUDA (torch's SyncBatchNorm takes only CUDA tensors)."""
    if cfg.data.batch_size % world:
        raise DistributedError(f"data.batch_size {cfg.data.batch_size} does not split over {world} processes: "
                               f"give a batch size divisible by {world} (it stays the global batch)")
    if cfg.run.sync_bn and world > 1 and device_type != "cuda":
        raise DistributedError("run.sync_bn needs CUDA: torch's SyncBatchNorm refuses CPU tensors "
                               "(set run.sync_bn = false for gloo on CPU)")


class Solo:
    """The one process of a run that is not distributed."""

    rank, world, local_rank, main, machines = 0, 1, None, True, False

    def due(self, step: int) -> bool:  # noqa: ARG002 - one process reads its own flags at every step
        return True

    def agree(self, stop: bool, pause: bool, loss_sum: torch.Tensor) -> tuple[bool, bool, bool]:  # noqa: ARG002
        return stop, pause, False  # divergence is caught at the report cadence, without a sync

    def share(self, value):
        return value

    def gather(self, value) -> list:
        return [value]

    def sum_(self, values: torch.Tensor) -> torch.Tensor:
        return values

    def wrap(self, model: torch.nn.Module, sync_bn: bool) -> torch.nn.Module:  # noqa: ARG002
        return model

    def sync_buffers(self, model: torch.nn.Module) -> None:
        pass

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def close(self, together: bool = False) -> None:
        pass


class Group(Solo):
    """This process's place in a torchrun-launched run, with its process group joined."""

    def __init__(self, device_type: str):
        self.rank, self.world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        self.local_rank = int(os.environ["LOCAL_RANK"])
        # Several machines when this one holds only some of the ranks (torchrun --nnodes).
        self.machines = int(os.environ.get("LOCAL_WORLD_SIZE", self.world)) != self.world
        self.main = self.rank == 0
        # Threads: the launcher's OMP_NUM_THREADS (torchrun's default is 1 a process; --nproc gives
        # each its share of the cores), so a user's own setting is kept.
        self.device = torch.device("cpu")
        if device_type == "cuda":
            if self.local_rank >= torch.cuda.device_count():
                raise DistributedError(f"local rank {self.local_rank} has no GPU: this machine has "
                                       f"{torch.cuda.device_count()}; start at most that many processes on it")
            torch.cuda.set_device(self.local_rank)  # one GPU per local rank
            self.device = torch.device("cuda", self.local_rank)
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", timeout=TIMEOUT,
                                **({"device_id": self.device} if device_type == "cuda" else {}))

    def due(self, step: int) -> bool:
        return step % AGREE_EVERY_STEPS == 0

    def agree(self, stop: bool, pause: bool, loss_sum: torch.Tensor) -> tuple[bool, bool, bool]:
        """Stop if any rank was asked to (a signal may reach one rank only), pause as rank 0's
        control says (only rank 0 reads the run's control file), and whether any rank diverged."""
        flags = torch.cat([torch.tensor([float(stop), float(pause and self.main)], device=self.device),
                           (~loss_sum.isfinite()).float().view(1).to(self.device)])
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        stop, pause, diverged = (bool(v) for v in flags.tolist())
        return stop, pause, diverged

    def share(self, value):
        """Rank 0's `value` on every rank (any picklable object)."""
        box = [value]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    def gather(self, value) -> list:
        """Every rank's `value` (any picklable object), in rank order, on every rank."""
        values = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def sum_(self, values: torch.Tensor) -> torch.Tensor:
        """`values` added over the ranks (on this rank's device: NCCL reduces only GPU tensors)."""
        on_device = values.to(self.device)
        dist.all_reduce(on_device)
        return on_device.to(values.device)

    def wrap(self, model: torch.nn.Module, sync_bn: bool) -> torch.nn.Module:
        """DDP around `model`, which stays the unwrapped module the checkpoints hold."""
        if sync_bn:
            # In place below the root (no model here is a bare BatchNorm): the layers become
            # SyncBatchNorm ones sharing their parameters, so the optimizer built before still
            # owns them and the state_dict keys hold.
            torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def sync_buffers(self, model: torch.nn.Module) -> None:
        """Rank 0's BatchNorm statistics on every rank, before an evaluation that the ranks split:
        each rank's own last update (and its EMA of them) differs a little."""
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous part of `x` (the test set, for evaluation)."""
        size = -(-len(x) // self.world)
        return x[self.rank * size:(self.rank + 1) * size]

    def close(self, together: bool = False) -> None:
        """Leave the process group. `together`: every rank ended the run alike (it finished or
        stopped, which the ranks agree on), so all of them come here: they meet first, because a
        rank that tore the group down while its peer still finished its last exchange was aborted
        by gloo on exit ("terminate called without an active exception": 1 resumed run in 3 on a
        2-core Xeon). A failure may have left a peer gone: no meeting then."""
        if dist.is_initialized():
            if together:
                with contextlib.suppress(RuntimeError):  # a peer that died after all: leave anyway
                    dist.barrier()
            dist.destroy_process_group()


def join(device_name: str) -> Solo:
    """Solo, or this rank's Group when torchrun started the process."""
    if not launched():
        return Solo()
    wants_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    return Group("cuda" if wants_cuda else "cpu")


def process_range(device_name: str) -> tuple[int, int, str]:
    """What `auto` means on this machine (every GPU when there are several, else 1), the most
    processes it can take (one a GPU, or one a CPU core), and their device type."""
    cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if cuda:
        return max(torch.cuda.device_count(), 1), torch.cuda.device_count(), "cuda"
    return 1, (1 if device_name == "mps" else len(os.sched_getaffinity(0))), "cpu"
