"""The muscles examined for fasciculations, their nerve roots, and how a cine names them.

Root supply after Tsao (Muscle Nerve 2003) and standard myotome tables: the S1
muscles of the calf (gastrocnemius, soleus) against controls that the sacral
roots do not supply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Muscle:
    key: str
    name: str
    roots: tuple[str, ...]

    @property
    def sacral(self) -> bool:
        """Supplied mainly through S1/S2 (the muscles an S1 radiculopathy makes fasciculate)."""
        return self.roots[0].startswith("S")


MUSCLES: dict[str, Muscle] = {
    m.key: m
    for m in (
        Muscle("gastrocnemius_medial", "gastrocnemius (medial head)", ("S1", "S2")),
        Muscle("gastrocnemius_lateral", "gastrocnemius (lateral head)", ("S1", "S2")),
        Muscle("gastrocnemius", "gastrocnemius", ("S1", "S2")),
        Muscle("soleus", "soleus", ("S1", "S2")),
        Muscle("tibialis_anterior", "tibialis anterior", ("L4", "L5")),
        Muscle("peroneus_longus", "peroneus longus", ("L5", "S1")),
        Muscle("rectus_femoris", "rectus femoris", ("L2", "L3", "L4")),
        Muscle("vastus_medialis", "vastus medialis", ("L2", "L3", "L4")),
    )
}

_PATTERNS = (
    (r"gastroc\w*\W*(med|medial)|med\w*\W*gastroc", "gastrocnemius_medial"),
    (r"gastroc\w*\W*(lat|lateral)|lat\w*\W*gastroc", "gastrocnemius_lateral"),
    (r"gastroc|\bgcm\b|\bmg\b", "gastrocnemius"),
    (r"soleus", "soleus"),
    (r"tib\w*\W*ant|\bta\b", "tibialis_anterior"),
    (r"peron|fibular", "peroneus_longus"),
    (r"rectus\W*fem|\brf\b", "rectus_femoris"),
    (r"vastus\W*med|\bvm\b", "vastus_medialis"),
)


def muscle_from_text(*texts: str | None) -> Muscle | None:
    """The muscle named in a series description, protocol or the user's words; None when none is."""
    for text in texts:
        if not text:
            continue
        key = text.strip().lower().replace(" ", "_")
        if key in MUSCLES:
            return MUSCLES[key]
        low = text.lower().replace("_", " ")
        for pattern, key in _PATTERNS:
            if re.search(pattern, low):
                return MUSCLES[key]
    return None
