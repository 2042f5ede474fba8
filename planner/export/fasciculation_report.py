"""The fasciculation section of the PDF report: rates side by side, the sentence, a timeline picture.

The timeline is vector graphics (reportlab): one strip per cine, its length the
analysed minute(s), a tick per fasciculation (taller for a larger displacement;
hollow when marked by hand), so the rhythm of the twitches reads at a glance.
"""

from __future__ import annotations

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm

TICK = colors.HexColor("#d9730d")
MANUAL = colors.HexColor("#1f78b4")
AXIS = colors.HexColor("#8899aa")


def fasciculation_rows(record: dict) -> list[list[str]]:
    rows = [["Muscle", "Side", "Fasciculations", "Rate", "Longest quiet interval"]]
    for role, cine in (("", record["muscle"]), (" (control)", record.get("control"))):
        if not cine:
            continue
        rows.append([
            f"{cine.get('muscle_name') or cine['muscle'] or 'muscle'}{role}",
            {"L": "left", "R": "right"}.get(cine.get("side", ""), "—"),
            f"{cine['n_events']} in {cine['analysed_s']:.0f} s",
            f"{cine['rate_per_min']:.1f}/min",
            f"{cine['longest_quiet_s']:.0f} s" if cine.get("longest_quiet_s") is not None else "—",
        ])
    return rows


def timeline_drawing(record: dict, width_mm: float = 176.0, font: str = "Helvetica") -> Drawing:
    """One strip per cine with its events; a seconds axis below."""
    cines = [(c.get("muscle_name") or c["muscle"] or "muscle", c) for c in (record["muscle"], record.get("control")) if c]
    label_w, strip_h, pad = 46 * mm, 9 * mm, 2 * mm
    width = width_mm * mm
    height = len(cines) * (strip_h + pad) + 7 * mm
    drawing = Drawing(width, height)
    longest = max(max(c.get("duration_s") or c["analysed_s"], 1.0) for _, c in cines)
    span = width - label_w - 4 * mm

    def x_of(t: float) -> float:
        return label_w + span * min(max(t, 0.0), longest) / longest

    for row, (name, cine) in enumerate(cines):
        y = height - (row + 1) * (strip_h + pad)
        duration = cine.get("duration_s") or cine["analysed_s"]
        drawing.add(String(0, y + strip_h / 2 - 3, name[:34], fontName=font, fontSize=7))
        drawing.add(Rect(label_w, y, x_of(duration) - label_w, strip_h, fillColor=colors.HexColor("#f4f6f8"), strokeColor=AXIS,
                         strokeWidth=0.4))
        for event in cine.get("events", []):
            size = event.get("displacement_mm")
            frac = 0.45 if size is None else min(1.0, 0.25 + size / 0.6)
            x = x_of(event["time_s"])
            colour = MANUAL if event.get("manual") else TICK
            half = strip_h * frac / 2
            drawing.add(Line(x, y + strip_h / 2 - half, x, y + strip_h / 2 + half, strokeColor=colour, strokeWidth=1.6))
    # seconds axis
    step = 10 if longest > 40 else 5 if longest > 15 else 1
    t = 0
    while t <= longest + 1e-6:
        x = x_of(t)
        drawing.add(Line(x, 6 * mm, x, 7 * mm, strokeColor=AXIS, strokeWidth=0.5))
        drawing.add(String(x - 3, 2.5 * mm, f"{t:g}", fontName=font, fontSize=6.5, fillColor=AXIS))
        t += step
    drawing.add(String(width - 2.5 * mm, 2.5 * mm, "s", fontName=font, fontSize=6.5, fillColor=AXIS))
    return drawing
