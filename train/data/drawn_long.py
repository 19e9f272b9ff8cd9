"""Long drawn-face streams with known micro-expressions, in the CAS(ME)^2 layout: the spotting benchmark's
drawn rows, and the drawn training streams of the learned ME scorer and talking recogniser (the drawn face is a
built-in set: the demo's ``--drawn-face``, the stream tests)."""

from __future__ import annotations

from pathlib import Path

# The drawn faces the spotter's learned models train on beside the nine real tuning people (train.me_scorer,
# train.talking_scorer): the drawn face is a built-in set (the demo's --drawn-face, the stream tests). A scorer that
# never saw one judged its first ME through FFmpeg's decoder no ME, and a talking recogniser that never saw one read
# it as talking 48-64 % of the time (it never talks); two at 640 x 480 (2 x 60 s, 60 MEs) and two at 720p with the
# face twice the size (the stream tests' 720p camera). The second 720p face (seed 203, a pale face on a textured
# ground) is never found by the face detector: it adds nothing. Choices are still made on the real people's figures
# (the goal's faces); the drawn ones are reported apart. The spotting benchmark's drawn faces are seeds 100-103,
# the stream tests' 101.
TUNING_DRAWN_SETS: dict[str, dict] = {
    "drawn-long-v1-n2x60s-seed200": {"videos": 2, "first_seed": 200},
    "drawn-long-v1-n2x60s-seed202-720p": {"videos": 2, "first_seed": 202, "frame_size": (1280, 720), "face_scale": 2.0},
}


def drawn_person(root: Path, subject: str) -> str:
    """The person a drawn stream stands for when people are left out one at a time: each drawn video is its own face
    (its set's folder and its subject; the folder's name begins with ``drawn-``, which tells drawn people apart)."""
    return f"{root.name}-{subject}"


def is_drawn_person(person: str) -> bool:
    """Whether a person named by :func:`drawn_person` is a drawn face (reported apart, never chosen on): the drawn
    sets' folders are named ``drawn-...`` (:data:`TUNING_DRAWN_SETS`, :func:`drawn_set`'s callers)."""
    return person.startswith("drawn-")


def drawn_set(
    root: Path,
    videos: int = 4,
    seconds: float = 60.0,
    first_seed: int = 100,
    frame_size: tuple[int, int] = (640, 480),
    face_scale: float = 1.0,
) -> Path:
    """Drawn-face streams (the demo's face, head drift) with micro-expressions every 2 s, written in the
    CAS(ME)^2 layout so the same reader scores them; video k drawn with seed ``first_seed + k`` (the
    benchmark's are 100-103, the ME scorer's training streams others: a drawn face is a person), on a
    ``frame_size`` canvas with the face ``face_scale`` x the demo's (the stream tests' 720p: 1280 x 720, 2)."""
    import cv2

    from train.data.realface.long_videos import FIRST_CODE, SHEET, Expression, LongVideoPlan, write_sheet
    from train.data.synthetic_video import head_path, plan_events, render_stream

    if (root / SHEET).is_file():
        return root
    plans = []
    for k in range(videos):
        length = int(seconds * 30)
        events = plan_events(length, [(k + j) % 3 for j in range(length // 60)], gap=60, duration=9, start=45)
        folder = root / "rawpic" / f"s{FIRST_CODE + k}" / f"{FIRST_CODE + k}_{k + 1:02d}01drawn"
        folder.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(
            render_stream(
                events,
                length,
                frame_size=frame_size,
                face_scale=face_scale,
                seed=first_seed + k,
                head=head_path(length, "drift", seed=first_seed - 100 + k),
            )
        ):
            cv2.imwrite(str(folder / f"img{t + 1}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        names = ("disgust", "happiness", "surprise")
        plans.append(
            LongVideoPlan(
                k + 1,
                FIRST_CODE + k,
                f"drawn-{first_seed + k}",
                length,
                tuple(Expression("ME", e.onset, e.apex, e.offset, names[e.label], ("AU04",), 1.2) for e in events),
                (),
                (),
            )
        )
    write_sheet(root / SHEET, plans)
    return root
