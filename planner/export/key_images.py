"""Key images of the plan: reslices along each needle and the ultrasound frame, annotations burned in.

Rendered headless with SimpleITK (reslice) and Pillow (drawing), so the CLI,
the GUI and the tests make the same pictures. For each trajectory:

- **in-plane, sagittal-oblique**: the plane through the needle closest to a
  sagittal one (anterior on the left, superior up), showing its craniocaudal tilt;
- **in-plane, axial-oblique**: the plane through the needle closest to an axial
  one (anterior up, the patient's left on the right), showing its obliquity;

plus the ultrasound frame with the planned in-plane approach when the plan has
one. Each picture carries its title, orientation letters, a 10 mm scale bar,
the needle (green), the skin entry (white) and the target (yellow), and the
disc outline (cyan) when the disc mask is known.

    images = render_key_images(plan, volume, disc_mask, metrics, ultrasound=(pixels, region))
    images[0].rgb      # uint8 [rows, columns, 3]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from PIL import Image, ImageDraw, ImageFont

from planner.disc.levels import sitk_image
from planner.geometry import direction_letters
from planner.plan.model import Plan, Trajectory
from planner.viewing.display import auto_window
from planner.volume import Volume

SIZE_PX = 512
FIELD_MM = 140.0
GREEN, YELLOW, WHITE, CYAN = (60, 230, 90), (255, 220, 40), (255, 255, 255), (70, 220, 230)
L, P, S = np.eye(3)


@dataclass(frozen=True)
class KeyImage:
    title: str
    rgb: np.ndarray  # uint8 [rows, columns, 3]
    kind: str  # "mr-reslice" | "ultrasound"
    pixel_mm: float | None = None
    #: SOP Instance UIDs of the source images shown (for the key object selection)
    sources: tuple[str, ...] = ()
    #: DICOM Patient Orientation (row, column direction), e.g. ("P", "F"); empty when not known (ultrasound)
    orientation: tuple[str, str] = ("", "")


def patient_orientation(right, up) -> tuple[str, str]:
    """The dominant patient direction of a picture's rows (``right``) and columns (``-up``), as DICOM letters."""
    dicom = {"L": "L", "R": "R", "A": "A", "P": "P", "S": "H", "I": "F"}
    return dicom[direction_letters(right)[0]], dicom[direction_letters(-np.asarray(up))[0]]


def _font(size: int) -> ImageFont.ImageFont:
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _plane_axes(direction: np.ndarray, keep: np.ndarray, up_hint: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, up, normal) of the plane containing ``direction`` and as much of ``keep`` as possible.

    ``up`` points along ``up_hint`` (projected); ``right`` completes a
    right-handed screen with the normal towards the viewer.
    """
    normal = np.cross(direction, keep)
    if np.linalg.norm(normal) < 1e-6:  # the needle runs along ``keep``: any plane containing it
        normal = np.cross(direction, up_hint)
    normal /= np.linalg.norm(normal)
    up = up_hint - (up_hint @ normal) * normal
    up /= np.linalg.norm(up)
    right = np.cross(up, normal)
    return right, up, normal


def reslice(volume: Volume, center: np.ndarray, right: np.ndarray, up: np.ndarray, pixel_mm: float,
            size_px: int = SIZE_PX, image: sitk.Image | None = None, nearest: bool = False) -> np.ndarray:
    """A ``size_px`` square plane through ``center`` (LPS), row 0 at the top (+up), column 0 at the left (-right)."""
    image = image if image is not None else sitk_image(volume)
    down = -up
    normal = np.cross(right, down)
    origin = center - right * pixel_mm * (size_px - 1) / 2 - down * pixel_mm * (size_px - 1) / 2
    reference = sitk.Image([size_px, size_px, 1], sitk.sitkFloat32)
    reference.SetSpacing([pixel_mm, pixel_mm, 1.0])
    reference.SetOrigin(origin.tolist())
    reference.SetDirection(np.column_stack([right, down, normal]).ravel().tolist())
    interpolator = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    out = sitk.Resample(image, reference, sitk.Transform(), interpolator, 0.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)[0]


def _to_rgb(section: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    center, width = window
    low, high = center - width / 2, center + width / 2
    grey = np.clip((section - low) / max(high - low, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


class _Canvas:
    """Pillow drawing in pixel coordinates of a reslice, with the plane's LPS mapping."""

    def __init__(self, rgb: np.ndarray, center, right, up, pixel_mm: float) -> None:
        self.image = Image.fromarray(rgb)
        self.draw = ImageDraw.Draw(self.image)
        self.center, self.right, self.up, self.pixel_mm = center, right, up, pixel_mm
        self.half = (rgb.shape[0] - 1) / 2
        self.font, self.small = _font(15), _font(13)

    def px(self, point_lps) -> tuple[float, float]:
        offset = np.asarray(point_lps, float) - self.center
        return self.half + offset @ self.right / self.pixel_mm, self.half - offset @ self.up / self.pixel_mm

    def text(self, xy, text, fill=WHITE, font=None, anchor="la") -> None:
        self.draw.text(xy, text, fill=fill, font=font or self.font, anchor=anchor, stroke_width=2, stroke_fill=(0, 0, 0))

    def needle(self, trajectory: Trajectory) -> None:
        entry, target = self.px(trajectory.entry_lps), self.px(trajectory.target_lps)
        self.draw.line([entry, target], fill=GREEN, width=3)
        x, y = entry
        self.draw.ellipse([x - 5, y - 5, x + 5, y + 5], outline=WHITE, width=2)
        x, y = target
        self.draw.line([x - 9, y, x - 3, y], fill=YELLOW, width=2)
        self.draw.line([x + 3, y, x + 9, y], fill=YELLOW, width=2)
        self.draw.line([x, y - 9, x, y - 3], fill=YELLOW, width=2)
        self.draw.line([x, y + 3, x, y + 9], fill=YELLOW, width=2)
        self.text((x + 10, y + 6), f"{trajectory.id} target", fill=YELLOW, font=self.small)
        self.text((entry[0] + 8, entry[1] - 18), "skin entry", font=self.small)

    def outline(self, mask: np.ndarray, colour=CYAN) -> None:
        edge = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1))
        pixels = np.array(self.image)
        pixels[edge] = colour
        self.image = Image.fromarray(pixels)
        self.draw = ImageDraw.Draw(self.image)

    def frame_text(self, title: str, lines: list[str]) -> None:
        size = self.image.size[0]
        self.text((8, 6), title)
        for n, line in enumerate(lines):
            self.text((8, 26 + 17 * n), line, font=self.small)
        left, right = direction_letters(-self.right), direction_letters(self.right)
        top, bottom = direction_letters(self.up), direction_letters(-self.up)
        self.text((6, size / 2), left, anchor="lm")
        self.text((size - 6, size / 2), right, anchor="rm")
        self.text((size / 2, size - 6), bottom, anchor="mb")
        self.text((size / 2 + 40, 8), top, anchor="mt")
        bar = 10.0 / self.pixel_mm
        y = size - 14
        self.draw.line([(size - 20 - bar, y), (size - 20, y)], fill=WHITE, width=3)
        self.text((size - 20 - bar / 2, y - 6), "10 mm", font=self.small, anchor="mb")
        self.text((8, size - 8), "Planning image - not for diagnosis", font=self.small, anchor="lb")


def _needle_views(trajectory: Trajectory, volume: Volume, image: sitk.Image, mask_image,
                  window, metrics: dict) -> list[KeyImage]:
    entry, target = np.asarray(trajectory.entry_lps), np.asarray(trajectory.target_lps)
    direction = (target - entry) / np.linalg.norm(target - entry)
    length = float(np.linalg.norm(target - entry))
    pixel_mm = max(FIELD_MM, length * 1.5) / SIZE_PX
    center = (entry + target) / 2
    m = metrics or {}
    views = []
    for name, keep, up_hint, right_hint in (
        ("Needle in-plane, sagittal-oblique", S, S, P),
        ("Needle in-plane, axial-oblique", L, -P, L),
    ):
        right, up, normal = _plane_axes(direction, keep, up_hint)
        if right @ right_hint < 0:  # keep the radiological screen conventions (anterior left / left right)
            right, normal = -right, -normal
        section = reslice(volume, center, right, up, pixel_mm, image=image)
        canvas = _Canvas(_to_rgb(section, window), center, right, up, pixel_mm)
        if mask_image is not None:
            canvas.outline(reslice(volume, center, right, up, pixel_mm, image=mask_image, nearest=True) > 0.5)
        canvas.needle(trajectory)
        lines = [f"{trajectory.label}: {trajectory.needle.text}"]
        if m:
            lines.append(f"length {m['length_mm']:.1f} mm, depth {m['depth_mm']:.1f} mm, C-arm {m['c_arm']}")
        canvas.frame_text(f"{name} ({trajectory.id})", lines)
        views.append(KeyImage(f"{name} ({trajectory.id})", np.array(canvas.image), "mr-reslice", pixel_mm,
                              _sources_near(volume, target), patient_orientation(right, up)))
    return views


def _sources_near(volume: Volume, point_lps) -> tuple[str, ...]:
    """The source slice (SOP Instance UID) nearest to a point, for the key object selection."""
    if not volume.sop_instance_uids:
        return ()
    ijk = np.linalg.solve(volume.image_to_lps, np.r_[np.asarray(point_lps, float), 1.0])[:3]
    k = int(np.clip(round(ijk[2]), 0, volume.shape[0] - 1))
    uids = volume.sop_instance_uids
    return (uids[k] if len(uids) == volume.shape[0] else uids[0],)


def ultrasound_summary(us) -> list[str]:
    """The planned in-plane approach in words, one item per number (the key image and the report)."""
    parts = []
    if us.depth_mm is not None:
        parts.append(f"target depth {us.depth_mm:.1f} mm")
    if us.insertion_angle_deg is not None:
        parts.append(f"needle {us.insertion_angle_deg:.0f}° to the transducer face")
    if us.probe_edge_distance_mm is not None:
        parts.append(f"insertion {us.probe_edge_distance_mm:.0f} mm from the probe edge")
    return parts


def _ultrasound_view(plan: Plan, frame: np.ndarray) -> KeyImage:
    us = plan.ultrasound
    rgb = frame if frame.ndim == 3 else np.repeat(frame[:, :, None], 3, axis=2)
    rgb = np.ascontiguousarray(rgb[:, :, :3]).astype(np.uint8)
    image = Image.fromarray(rgb)
    scale = max(1.0, SIZE_PX / max(image.size))
    if scale > 1.0:
        image = image.resize((round(image.size[0] * scale), round(image.size[1] * scale)), Image.LANCZOS)
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(13)
    (tx, ty), (ex, ey) = (np.asarray(us.target_px) * scale), (np.asarray(us.entry_px) * scale)
    direction = np.array([tx - ex, ty - ey])
    direction /= max(np.linalg.norm(direction), 1e-6)
    start = np.array([tx, ty]) - direction * 2000  # draw the path up to the image edge
    draw.line([tuple(start), (tx, ty)], fill=GREEN, width=3)
    draw.ellipse([tx - 6, ty - 6, tx + 6, ty + 6], outline=YELLOW, width=3)

    def text(xy, value, f=small, fill=WHITE, anchor="la"):
        draw.text(xy, value, fill=fill, font=f, anchor=anchor, stroke_width=2, stroke_fill=(0, 0, 0))

    text((tx + 10, ty + 6), "target", fill=YELLOW)
    text((8, 6), f"Ultrasound-guided approach (frame {us.frame_number})", f=font)
    for n, line in enumerate(ultrasound_summary(us)):
        text((8, 26 + 17 * n), line)
    text((8, image.size[1] - 8), "Planning image - not for diagnosis", anchor="lb")
    return KeyImage(f"Ultrasound approach (frame {us.frame_number})", np.array(image), "ultrasound", None,
                    (us.sop_instance_uid,))


def render_key_images(
    plan: Plan,
    volume: Volume,
    disc_mask: np.ndarray | None = None,
    metrics: dict | None = None,
    ultrasound_frame: np.ndarray | None = None,
) -> list[KeyImage]:
    """The plan's key images (see the module docstring); ``metrics``: trajectory id -> metrics dict."""
    image = sitk_image(volume)
    mask_image = None
    if disc_mask is not None and disc_mask.any():
        mask_image = sitk_image(Volume(disc_mask.astype(np.float32), volume.image_to_lps))
    window = auto_window(volume.array, 1.0, 99.5)  # (centre, width)
    images = []
    for trajectory in plan.trajectories:
        images += _needle_views(trajectory, volume, image, mask_image, window, (metrics or {}).get(trajectory.id))
    if plan.ultrasound is not None and ultrasound_frame is not None:
        images.append(_ultrasound_view(plan, ultrasound_frame))
    return images
