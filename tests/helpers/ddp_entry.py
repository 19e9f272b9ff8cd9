"""`mpt-edge` with the tiny test config registered: the entry point torchrun starts in the DDP test."""

import sys

from train.configs import REGISTRY, MPTConfig

REGISTRY["mpt-micro"] = MPTConfig("mpt-micro", embed_dim=32, depth=1, num_heads=2, adapter_dim=4)

from app.cli import app  # noqa: E402

app(sys.argv[1:])
