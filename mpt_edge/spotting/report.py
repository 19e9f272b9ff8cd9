"""A session report a screener can read: one self-contained HTML file (images inline, no script, no
request anywhere) with the timeline of the spotter's signal, every interval with its onset / apex /
magnified-apex thumbnails, type, class and scores, counts per class and type, and the bundle and
settings used. Face images go into it only because the user asked for a report (``--report``); it is
written atomically.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from mpt_edge.io import atomic_write_bytes
from mpt_edge.spotting.behaviour import Span, blinks_per_minute, talking_frames
from mpt_edge.spotting.intervals import Interval

if TYPE_CHECKING:
    from mpt_edge.bundle import BundleFiles
    from mpt_edge.spotting.offline import SpotResult

KIND_COLOURS = {"ME": (40, 40, 220), "MaE": (200, 120, 20)}  # BGR: micro red, macro blue
TRUTH_COLOUR = (60, 160, 60)
SPAN_COLOURS = {"talking": (80, 200, 240), "blink": (160, 60, 160)}  # BGR: talking amber, blinks purple


@dataclass(frozen=True)
class ReportData:
    title: str
    source: str
    fps: float
    frames: int
    intervals: Sequence[Interval]
    energy: np.ndarray = field(repr=False)
    threshold: np.ndarray = field(repr=False)
    crops: Sequence[tuple[np.ndarray, np.ndarray]] = field(default=(), repr=False)  # (onset, apex) per interval
    settings: dict[str, Any] = field(default_factory=dict)
    truth: Sequence[Interval] = ()
    alpha: float = 8.0  # magnification of the thumbnails' third picture (see thumbnail_alpha)
    spans: Sequence[Span] = ()  # blinks and talking spells


def timeline_image(
    energy: np.ndarray,
    threshold: np.ndarray,
    intervals: Sequence[Interval],
    fps: float,
    truth: Sequence[Interval] = (),
    width: int = 1200,
    height: int = 280,
    spans: Sequence[Span] = (),
) -> np.ndarray:
    """The spotter's energy over time (grey), its threshold (orange), spotted intervals (red ME, blue MaE),
    the face's talking (amber) and blinks (purple) in a band below, and, where known, the ground truth
    (green, in the band under that)."""
    image = np.full((height, width, 3), 255, np.uint8)
    frames = max(1, len(energy))
    top, bottom, doings, band = 20, height - 80, height - 72, height - 50
    finite = energy[np.isfinite(energy)]
    scale = (
        float(np.nanpercentile(np.concatenate([finite, threshold[np.isfinite(threshold)]]), 99.5)) * 1.2
        if finite.size
        else 1.0
    )
    scale = scale or 1.0

    def x(frame: float) -> int:
        return int(round(frame / frames * (width - 1)))

    def y(value: float) -> int:
        return int(round(bottom - min(value / scale, 1.0) * (bottom - top)))

    for interval in intervals:
        cv2.rectangle(
            image,
            (x(interval.onset), top),
            (max(x(interval.offset), x(interval.onset) + 1), bottom),
            KIND_COLOURS[interval.kind],
            -1,
        )
    image[top:bottom] = (0.35 * image[top:bottom] + 0.65 * 255).astype(np.uint8)  # intervals as pale bands
    for span in sorted(spans, key=lambda span: span.kind != "talking"):  # blinks drawn over talking
        cv2.rectangle(
            image,
            (x(span.onset), doings),
            (max(x(span.offset), x(span.onset) + 1), doings + 12),
            SPAN_COLOURS[span.kind],
            -1,
        )
    for interval in truth:
        cv2.rectangle(
            image,
            (x(interval.onset), band),
            (max(x(interval.offset), x(interval.onset) + 1), band + 12),
            TRUTH_COLOUR,
            -1,
        )
    for series, colour in ((energy, (90, 90, 90)), (threshold, (0, 140, 255))):
        points = [(x(i), y(v)) for i, v in enumerate(series) if np.isfinite(v)]
        if len(points) > 1:
            cv2.polylines(image, [np.array(points, np.int32)], False, colour, 1, cv2.LINE_AA)
    for interval in intervals:
        cv2.line(image, (x(interval.apex), top), (x(interval.apex), bottom), KIND_COLOURS[interval.kind], 1)
    seconds = frames / fps if fps else 0
    step = max(1, int(np.ceil(seconds / 12)))
    for second in range(0, int(seconds) + 1, step):
        cv2.putText(
            image,
            f"{second}s",
            (x(second * fps), height - 12),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    cv2.putText(
        image,
        "energy / threshold; spotted ME (red) MaE (blue); talking (amber) blinks (purple); truth (green)",
        (8, 14),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.42,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    return image


def _png(image: np.ndarray) -> str:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("cannot encode a report image")
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode()


def thumbnails(onset: np.ndarray, apex: np.ndarray, alpha: float, size: int = 128) -> list[str]:
    from mpt_edge.motion import LinearEulerianMagnifier, MotionConfig

    small = [cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) for img in (onset, apex)]
    magnified = LinearEulerianMagnifier(MotionConfig(alpha=alpha))(onset, apex)  # float, 0..1
    magnified = cv2.resize(
        np.clip(magnified * 255.0 + 0.5, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA
    )
    return [_png(img) for img in (*small, magnified)]


def render_html(data: ReportData) -> str:
    kinds = Counter(i.kind for i in data.intervals)
    classes = Counter((i.kind, i.label) for i in data.intervals if i.label)
    rows = []
    for n, interval in enumerate(data.intervals):
        pictures = ""
        if n < len(data.crops):
            onset, apex = data.crops[n]
            pictures = "".join(
                f'<figure><img src="{src}" alt="{name}"><figcaption>{name}</figcaption></figure>'
                for src, name in zip(thumbnails(onset, apex, data.alpha), ("onset", "apex", f"apex x{data.alpha:g}"))
            )
        scores = ", ".join(
            f"{html.escape(k)} {v:.2f}" for k, v in sorted((interval.scores or {}).items(), key=lambda kv: -kv[1])
        )
        time = f"{interval.onset / data.fps:.2f}–{interval.offset / data.fps:.2f} s" if data.fps else ""
        rows.append(
            f"<tr><td>{n + 1}</td><td "
            f'class="{interval.kind}">{interval.kind}</td><td>{interval.onset} / '
            f"{interval.apex} / {interval.offset}</td>"
            f"<td>{time}</td><td>{html.escape(interval.label or '–')}</td><td>{scores or '–'}</td>"
            f"<td>{interval.score:.2f}</td><td "
            f"class=pics>{pictures}</td></tr>"
        )
    settings = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in data.settings.items()
    )
    counts = ", ".join(f"{k}: {kinds.get(k, 0)}" for k in ("ME", "MaE"))
    by_class = (
        ", ".join(
            f"{k} {html.escape(str(label))}: {v}"
            for (k, label), v in sorted(classes.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
        )
        or "–"
    )
    timeline = _png(timeline_image(data.energy, data.threshold, data.intervals, data.fps, data.truth, spans=data.spans))
    duration = data.frames / data.fps if data.fps else 0
    blinks = sum(span.kind == "blink" for span in data.spans)
    talked = talking_frames(data.spans) / data.fps if data.fps else 0.0
    doings = (
        f"Blinks: {blinks} ({blinks_per_minute(data.spans, data.frames, data.fps):.0f} a minute). Talking: "
        f"{sum(span.kind == 'talking' for span in data.spans)} spells, {talked:.1f} s"
        f" ({100 * talked / duration if duration else 0:.0f} % of the time)."
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(data.title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left;
vertical-align: middle; }}
td.ME {{ color: #c00; font-weight: bold; }} td.MaE {{ color: #1560bd; font-weight: bold; }}
figure {{ display: inline-block; margin: 0 4px; text-align: center; }} figcaption {{ font-size: 11px; color: #555; }}
td.pics {{ white-space: nowrap; }}
img.timeline {{ max-width: 100%; border: 1px solid #ccc; }}
</style></head><body>
<h1>{html.escape(data.title)}</h1>
<p>{html.escape(data.source)} — {data.frames} frames, {duration:.1f} s at {data.fps:g} frames/s. Intervals: {counts}. By
class: {by_class}. {doings}</p>
<img class="timeline" src="{timeline}" alt="timeline of the spotter's signal with the spotted intervals">
<h2>Intervals</h2>
<table><tr><th>#</th><th>type</th><th>onset / apex / offset (frame)</th><th>time</th><th>class</th><th>class
scores</th><th>score (x threshold)</th><th>onset · apex · magnified apex</th></tr>
{"".join(rows) or "<tr><td colspan=8>none spotted</td></tr>"}
</table>
<h2>Settings</h2><table>{settings}</table>
<p><small>Written by mpt-edge because --report was given: it holds face images (biometric data); keep it as you keep the
recording.</small></p>
</body></html>
"""


def write_report(path: Path, data: ReportData) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        from mpt_edge.errors import InputError

        raise InputError(f"--report {path}: the report is an HTML file; name it ….html")
    return atomic_write_bytes(path, render_html(data).encode("utf-8"))


UNBUNDLED_ALPHA = 8.0  # a report without a bundle magnifies its thumbnails this much, so the motion shows


def thumbnail_alpha(bundle: BundleFiles | None) -> float:
    """The thumbnails' magnification: the bundle's own α (what its model saw; 0 stays 0), else
    :data:`UNBUNDLED_ALPHA`. One place for both reports (``spot --report``, ``run --report``)."""
    return bundle.motion_config.alpha if bundle is not None else UNBUNDLED_ALPHA


def report_of(
    result: SpotResult,
    title: str,
    settings: dict[str, Any],
    truth: Sequence[Interval] = (),
    alpha: float = UNBUNDLED_ALPHA,
) -> ReportData:
    """A :class:`ReportData` from an offline :class:`~mpt_edge.spotting.offline.SpotResult`."""
    return ReportData(
        title,
        result.source,
        result.fps,
        result.frames,
        result.intervals,
        result.energy,
        result.threshold,
        result.crops,
        settings,
        truth,
        alpha,
        result.spans,
    )


def write_spot_report(
    path: Path, video: Path, result: SpotResult, bundle: BundleFiles | None, detect_every: int
) -> None:
    """``spot --report``: one video's report, with the settings it was spotted with."""
    settings = {
        "bundle": str(bundle.root) if bundle else "none (intervals only)",
        "face detector": result.face_detector,
        "frame rate": result.fps,
        "detect every": detect_every,
    }
    write_report(path, report_of(result, f"mpt-edge spot: {video.name}", settings, alpha=thumbnail_alpha(bundle)))
