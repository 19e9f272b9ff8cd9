"""Shared fixtures: textured frames with known sub-pixel motion."""

from __future__ import annotations

import os
from pathlib import Path

# The face models (`mpt-edge faces install`, run by .ci/run before the tests) stay findable when a test
# points XDG_CACHE_HOME at a temporary folder.
os.environ.setdefault(
    "MPT_EDGE_FACE_MODELS",
    str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mpt-edge" / "face-models"),
)
# ... and so do the real-face preset's registry files (fetched once, sha256-checked: train.data.realface.sources)
os.environ.setdefault(
    "MPT_EDGE_SOURCES", str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mpt-edge" / "sources")
)

# pytest-xdist runs the files on both cores (pyproject's addopts): each worker's torch / OpenMP gets its share of
# the cores, not all of them, or two workers' thread pools fight over two cores. Set before anything imports torch.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))


import numpy as np  # noqa: E402  (after the thread split above)
import pytest  # noqa: E402
from scipy.ndimage import fourier_shift, gaussian_filter  # noqa: E402


def smooth_texture(size: int = 256, sigma: float = 8.0, seed: int = 0) -> np.ndarray:
    """Periodic band-limited noise on the 0..1 scale: exact Fourier shifts apply to it."""
    rng = np.random.default_rng(seed)
    tex = gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return ((tex - tex.min()) / (tex.max() - tex.min())).astype(np.float32)


def fourier_translate(image: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    """Exact sub-pixel translation of a periodic image (no interpolation blur)."""
    return np.real(np.fft.ifft2(fourier_shift(np.fft.fft2(image), (dy, dx)))).astype(np.float32)


@pytest.fixture(scope="session")
def texture() -> np.ndarray:
    return smooth_texture()


# The small model the streaming and serving tests share (trained once per session): wide enough to
# learn the synthetic classes in a few epochs, still seconds per epoch.
def _small_config():
    from train.configs import MPTConfig

    return MPTConfig("mpt-stream-test", embed_dim=64, depth=2, num_heads=2, adapter_dim=8)


@pytest.fixture(scope="session")
def stream_model(tmp_path_factory):
    """BASE/run/best.pt trained on the synthetic set at BASE/data, and BASE/bundle (onnxruntime-cpu)."""
    from typer.testing import CliRunner

    from app.cli import app
    from train.configs import REGISTRY

    small, runner = _small_config(), CliRunner()
    base = tmp_path_factory.mktemp("stream-model")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(REGISTRY, small.name, small)
        trained = runner.invoke(
            app,
            [
                "train",
                "--root",
                str(base / "data"),
                "--synthetic-subjects",
                "8",
                "--synthetic-clips",
                "3",
                "--model",
                small.name,
                "--epochs",
                "8",
                "--protocol",
                "all",
                "--out",
                str(base / "run"),
            ],
        )
        assert trained.exit_code == 0, trained.output
        built = runner.invoke(
            app, ["build", str(base / "run" / "best.pt"), "--target", "onnxruntime-cpu", "--out", str(base / "bundle")]
        )
        assert built.exit_code == 0, built.output
    return base


# Tests that need a model trained in the session, or a real-face set rendered, are slow by what they use:
# `pytest -m "not slow"` (the working loop, < 3 min on 2 cores) leaves them to the full run and to CI.
SLOW_FIXTURES = {"stream_model", "bundle_dir", "small_set", "long_video"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
