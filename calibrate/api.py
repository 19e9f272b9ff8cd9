"""The calibrate stage as a Python call: an exported FP32 model + calibration clips -> an INT8 model and
the report that says what INT8 cost (held-out UF1, agreement, backbone cosine/SQNR, latency). No printing:
the command prints the report; progress goes to an optional rich ``Progress``, messages to ``log``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calibrate.sampling import DEFAULT_SIZE  # noqa: F401  (re-exported: the CLI reads the default here)
from mpt_edge.errors import MptEdgeError
from mpt_edge.progress import quiet
from train.metrics import Metrics
from train.options import DataSpec

if TYPE_CHECKING:
    from rich.progress import Progress


@dataclass(frozen=True)
class CalibrationReport:
    """FP32 vs INT8 on the held-out clips; ``details`` is the whole report as written to report_<backend>.json."""

    backend: str
    int8_model: Path
    report_file: Path
    fp32: Metrics
    int8: Metrics
    agreement: float
    uf1_drop: float
    held_out_clips: int
    details: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.details)


def calibrate(
    model: Path,
    backend: str = "openvino",
    out: Path = Path("int8"),
    data: DataSpec = DataSpec(),
    *,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    max_drop: float | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] = quiet,
) -> CalibrationReport:
    """Quantize ``model`` (from ``export``) to INT8 for ``backend`` with ``size`` calibration clips of
    ``data`` (by default the synthetic set the model was trained on), and measure what it cost."""
    from calibrate.run import calibrate_model
    from calibrate.sampling import check_size
    from mpt_edge.onnx_meta import read_onnx_meta
    from train.data.pairs import load_pairs
    from train.progress import counter
    from train.session import open_for_model

    check_size(size, "--calibration-size")  # before the data is opened
    meta = read_onnx_meta(model)
    face_size = int(meta["motion_config"]["face_size"])
    source = open_for_model(progress, data, meta, log)
    if list(source.class_names) != list(meta["class_names"]):
        raise MptEdgeError(
            f"{model} predicts {meta['class_names']} but {data.dataset} has {source.class_names}; "
            "calibrate with the data it was trained on"
        )
    pairs = load_pairs(source.records, face_size, counter(progress, "decoding onset/apex frames", len(source.records)))
    report = calibrate_model(model, backend, out, pairs, size, seed, max_drop, log)
    return CalibrationReport(
        backend=backend,
        int8_model=Path(report["int8_model"]),
        report_file=out / f"report_{backend}.json",
        fp32=Metrics.from_dict(report["fp32"]),
        int8=Metrics.from_dict(report["int8"]),
        agreement=float(report["agreement"]),
        uf1_drop=float(report["uf1_drop"]),
        held_out_clips=int(report["held_out_clips"]),
        details=report,
    )
