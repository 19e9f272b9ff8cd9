"""SMIC-HS (Li et al., FG 2013), as distributed — folders only, no coding sheet::

    ROOT/HS/s1/micro/negative/s1_ne_01/image000106.bmp ...   (ROOT may also be SMIC_all_raw/ or HS/ itself)
             s1/micro/positive/..., s1/micro/surprise/...

Each clip folder holds exactly the micro-expression: onset = its first frame, offset = its last,
and — SMIC has no apex annotation — apex = the middle frame, the MEGC2019 convention. The emotion is
the folder name (negative, positive, surprise). Subjects without a ``micro`` folder are skipped
(SMIC-HS has 16 subjects with micro-expressions, 164 clips).
"""

from __future__ import annotations

from pathlib import Path

from mpt_edge.errors import InputError
from train.data.records import RawClip, ReadResult, build_records, identity_scheme, index_frames

CLASSES_3 = ("negative", "positive", "surprise")
SCHEME_3 = identity_scheme("smic", CLASSES_3)


def hs_folder(root: Path) -> Path:
    for candidate in (root / "HS", root / "SMIC_all_raw" / "HS", root / "SMIC" / "HS", root):
        if candidate.is_dir() and any(candidate.glob("s*/micro")):
            return candidate
    hits = sorted(root.rglob("HS"), key=lambda p: len(p.parts))
    for candidate in hits:
        if any(candidate.glob("s*/micro")):
            return candidate
    raise InputError(
        f"no SMIC-HS folder (HS/s<N>/micro/<emotion>/<clip>/) under {root}; point --root "
        "at the SMIC folder as distributed"
    )


def raw_clips(root: Path) -> tuple[list[RawClip], Path]:
    hs = hs_folder(Path(root))
    raw = []
    for clip in sorted(hs.glob("s*/micro/*/*")):
        if not clip.is_dir():
            continue
        subject, emotion = clip.parts[-4], clip.parts[-2]
        frames = sorted(index_frames(clip))
        first, last = (str(frames[0]), str(frames[-1])) if frames else ("", "")
        where = f"{clip.relative_to(hs)}"
        raw.append(RawClip(where, "smic", subject, clip.name, clip, first, "", last, emotion, apex_default_middle=True))
    if not raw:
        raise InputError(f"{hs} holds no clip folders (s<N>/micro/<emotion>/<clip>/)")
    return raw, hs


def read_smic(root: Path, skip_invalid: bool = False) -> ReadResult:
    raw, hs = raw_clips(Path(root))
    return build_records(raw, hs, SCHEME_3, skip_invalid)
