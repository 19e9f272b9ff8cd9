"""DDP when launched by ``torchrun`` (it sets WORLD_SIZE/RANK/LOCAL_RANK); a no-op otherwise.

No home-made cluster code: torch.distributed does the work. Every rank walks the same seeded batch
order and takes its slice of each batch; DDP averages the gradients; rank 0 alone writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()


def init_from_env(device: torch.device) -> DistContext:
    """Join the process group torchrun prepared (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(torch.distributed.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))


def shutdown(context: DistContext) -> None:
    if context.enabled and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
