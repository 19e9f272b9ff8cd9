"""Classes as the field labels them from action units.

CASME II's five classes follow its published AU <-> emotion criteria (Yan et al., PLoS ONE 2014, Table 3):
happiness AU6 or AU12; surprise AU1+2, AU25 or AU2; disgust AU9 or AU10 or AU4+AU7; repression AU15 or AU17
alone or combined (AU14 with them); others: what fits none (AU4 alone, AU7, lip presses...). The sets below
keep the ambiguity real sets have: AU4 is in disgust and others, AU15 in repression and others, AU25 in
happiness and surprise, AU7 in disgust and others. The MEGC 2019 composite's three classes map CASME II's
as the challenge does (:data:`train.data.megc2019.CASME2_TO_3` semantics): disgust and repression are
negative, happiness positive, surprise surprise; others is left out.
"""

from __future__ import annotations

CASME2_CLASSES = ("happiness", "surprise", "disgust", "repression", "others")
MEGC_CLASSES = ("negative", "positive", "surprise")
TO_MEGC = {
    "happiness": "positive",
    "surprise": "surprise",
    "disgust": "negative",
    "repression": "negative",
    "others": None,
}

AU_SETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "happiness": (("AU06", "AU12"), ("AU12",), ("AU06",), ("AU12", "AU25")),
    "surprise": (("AU01", "AU02"), ("AU01", "AU02", "AU25"), ("AU02",), ("AU01", "AU02", "AU05")),
    "disgust": (("AU09",), ("AU10",), ("AU04", "AU07"), ("AU04", "AU09"), ("AU09", "AU10")),
    "repression": (("AU15",), ("AU17",), ("AU14",), ("AU15", "AU17"), ("AU14", "AU17")),
    "others": (("AU04",), ("AU07",), ("AU01", "AU04"), ("AU04", "AU15"), ("AU24",), ("AU23",)),
}


def au_code(aus: tuple[str, ...]) -> str:
    """CASME II's notation: ``6+12``."""
    return "+".join(str(int(name[2:])) for name in aus)
