"""One wording of the L5-S1 finding, for the findings panel, the CLI and the PDF (issue 25).

It reads the finding's dictionary form (:meth:`planner.disc.bulge.BulgeFinding.as_dict`,
which is also what ``analysis.json`` and the plan carry), so the three say the same
thing in the same words:

    wording = describe(finding.as_dict())
    wording.title       # "L5-S1: Protrusion (focal), left"
    wording.sentence    # "L5-S1: protrusion (focal), side left, zone subarticular, max displacement 5.0 mm over 42°"
    wording.rows        # [("classification", "Classification", "Protrusion (focal)"), ...]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Wording:
    title: str
    sentence: str
    rows: tuple[tuple[str, str, str], ...]  # (key, label, text)

    def text(self, key: str, default: str = "-") -> str:
        return next((text for k, _label, text in self.rows if k == key), default)


def _kind(values: Mapping) -> str:
    kind = str(values.get("classification") or "-")
    return kind + (f" ({values['focal']})" if values.get("focal") else "")


def describe(values: Mapping) -> Wording:
    """The words for a finding given as :meth:`BulgeFinding.as_dict` (or analysis.json's keys)."""
    if values.get("reliable") is False or values.get("classification") == "not assessable":
        because = "; ".join(values.get("not_reliable_because") or []) or "no reason recorded"
        rows = [("classification", "Classification", f"not assessable: the disc measurement is not reliable ({because}); read the images directly")]
        rows += _heights_and_canal(values)
        return Wording("L5-S1: not assessable", f"L5-S1: not assessable: the disc measurement is not reliable ({because})", tuple(rows))
    kind = _kind(values)
    normal = values.get("classification") == "normal"
    sequestration = values.get("classification") == "sequestration"
    side, zone = values.get("side") or "-", values.get("zone") or "-"
    rows = [
        ("classification", "Classification", kind),
        ("side", "Side", "-" if normal else side),
        ("zone", "Zone", "-" if normal else zone),
    ]
    shift = values.get("max_displacement_mm")
    if shift is not None and sequestration:
        displacement = f"a free fragment reaching {shift:.1f} mm beyond the endplates' margin"
    elif shift is not None:
        displacement = f"maximum {shift:.1f} mm over an arc of {values.get('displaced_arc_deg') or 0:.0f}°"
    else:
        displacement = "-"
    rows.append(("displacement", "Displacement", displacement))
    if values.get("base_width_mm") is not None:
        if sequestration:
            rows.append(("widths", "Fragment width", f"{values.get('dome_width_mm') or 0:.1f} mm"))
        elif not normal:
            rows.append(("widths", "Base / dome width", f"{values['base_width_mm']:.1f} mm / {values.get('dome_width_mm') or 0:.1f} mm"))
    migration = values.get("migration_mm") or 0.0
    direction = values.get("migration_direction") or ""
    if migration and sequestration:
        rows.append(("migration", "Fragment's far end", f"{migration:.1f} mm {direction} to the disc".replace("  ", " ")))
    elif migration and direction:
        rows.append(("migration", "Migration", f"{migration:.1f} mm {direction}"))
    else:
        rows.append(("migration", "Migration", "none"))
    rows += _heights_and_canal(values)
    contact = values.get("s1_root_contact")
    if contact is not None:
        reached = [s for s in ("left", "right") if contact.get(s)]
        rows.append(("roots", "S1 root reached", " and ".join(reached) if reached else "neither"))
    title = f"L5-S1: {kind.capitalize()}" + ("" if normal else f", {side}")
    if sequestration and shift is not None:
        extent = f", a free fragment {migration:.0f} mm {direction} to the disc" if migration else f", a free fragment reaching {shift:.1f} mm"
    elif shift is not None:
        extent = f", max displacement {shift:.1f} mm over {values.get('displaced_arc_deg') or 0:.0f}°"
    else:
        extent = ""
    sentence = f"L5-S1: {kind}" + ("" if normal else f", side {side}, zone {zone}") + extent
    return Wording(title, sentence, tuple(rows))


def _heights_and_canal(values: Mapping) -> list[tuple[str, str, str]]:
    rows = []
    height = values.get("disc_height_mm") or {}
    if height:
        rows.append(("heights", "Disc height", f"anterior {height.get('anterior', 0):.1f} mm, posterior {height.get('posterior', 0):.1f} mm"))
    canal = values.get("canal") or {}
    if canal.get("ap_mm") is not None:
        rows.append(("canal", "Canal at L5–S1", f"AP {canal['ap_mm']:.1f} mm, area {canal.get('area_mm2') or 0:.0f} mm²"))
    return rows
