"""Training on several processes: `torchrun --nproc-per-node N -m train ...` (DistributedDataParallel).

torchrun starts N copies of `python -m train` with RANK, LOCAL_RANK and WORLD_SIZE in their environment (and
MASTER_ADDR / MASTER_PORT for the rendezvous). Each process then
- joins the process group (gloo on the CPU, NCCL on CUDA, one GPU per process: cuda:LOCAL_RANK);
- trains the same model, wrapped in DistributedDataParallel, which starts every replica from rank 0's weights and
  averages the gradients at each step, so the replicas and their optimizer states stay identical;
- samples its own crops (its own random stream) from its own share of the training photos;
- leaves validation, the log and the checkpoints to rank 0.
The global batch is batch_size x WORLD_SIZE; both are recorded in the checkpoint's config. The optimizer state is
the same on every rank, so --resume works with any number of processes (the global batch then changes with it).
A plain `python -m train` has none of these variables: one process, no process group, nothing changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Process:
    """This process's place among torchrun's: rank `rank` of `world_size` (0 of 1 for a plain run)."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0, the one that validates, logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def device(self, cuda: bool) -> torch.device:
        if not cuda:
            return torch.device("cpu")
        return torch.device("cuda", self.local_rank) if self.distributed else torch.device("cuda")

    def seed(self, seed: list[int]) -> list[int]:
        """A random stream's seed for this rank: the plain run's own seed on one process."""
        return [*seed, self.rank] if self.distributed else seed

    def share(self, items: list) -> list:
        """This rank's share of the training photos: every world_size-th, from its rank on."""
        if not self.distributed:
            return items
        if len(items) < self.world_size:
            raise ValueError(f"{len(items)} training photos cannot be shared among {self.world_size} processes")
        return items[self.rank::self.world_size]

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model to train: DDP around it when distributed (the unwrapped model keeps the weights that are
        validated and saved), the model itself otherwise."""
        if not self.distributed:
            return model
        device = next(model.parameters()).device
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def mean(self, value: float) -> float:
        """The mean of a number over the ranks (all ranks must call it at the same step)."""
        if not self.distributed:
            return value
        total = torch.tensor([value], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            total = total.cuda()
        dist.all_reduce(total)
        return total.item() / self.world_size

    def finish(self) -> None:
        """Wait for every rank (rank 0's last validation and checkpoint), then leave the process group."""
        if self.distributed:
            dist.barrier()
            dist.destroy_process_group()


def start(cuda: bool) -> Process:
    """This process's Process, joining torchrun's process group when there is one (WORLD_SIZE > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Process()
    process = Process(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if cuda:
        torch.cuda.set_device(process.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return process
