"""Cine playback clock: which frame to show at a given moment, at the recorded frame rate.

Pure timing, no timer: the viewer asks ``frame_at(elapsed_s)`` on each tick and
shows that frame, so playback keeps recorded time even when a slow frame makes
a tick late (frames are skipped, time never stretches).
"""

from __future__ import annotations

import bisect
from typing import Sequence

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)


class CinePlayer:
    """Playback state of one clip: frame times, position, speed, loop, playing."""

    def __init__(self, frame_times_ms: Sequence[float], speed: float = 1.0, loop: bool = True) -> None:
        if len(frame_times_ms) == 0:
            raise ValueError("a cine needs at least one frame")
        self.times_ms = [float(t) for t in frame_times_ms]
        self.speed = speed
        self.loop = loop
        self.playing = False
        self.frame = 0
        self._start_clip_ms = 0.0  # clip time at the moment play started
        self._start_wall_s = 0.0

    @property
    def n_frames(self) -> int:
        return len(self.times_ms)

    @property
    def duration_ms(self) -> float:
        """Length of the clip: last frame start plus one nominal frame interval."""
        if self.n_frames == 1:
            return 0.0
        interval = (self.times_ms[-1] - self.times_ms[0]) / (self.n_frames - 1)
        return self.times_ms[-1] - self.times_ms[0] + interval

    def time_of(self, frame: int) -> float:
        """Clip time of ``frame`` in ms from the first frame."""
        return self.times_ms[frame] - self.times_ms[0]

    def play(self, now_s: float) -> None:
        if self.n_frames > 1:
            self.playing = True
            if not self.loop and self.frame == self.n_frames - 1:
                self.frame = 0
            self._start_clip_ms = self.time_of(self.frame)
            self._start_wall_s = now_s

    def pause(self) -> None:
        self.playing = False

    def seek(self, frame: int, now_s: float | None = None) -> None:
        self.frame = max(0, min(int(frame), self.n_frames - 1))
        if self.playing and now_s is not None:
            self.play(now_s)

    def step(self, delta: int) -> None:
        """Step ``delta`` frames (pauses playback; wraps when looping)."""
        self.playing = False
        target = self.frame + delta
        self.frame = target % self.n_frames if self.loop else max(0, min(target, self.n_frames - 1))

    def set_speed(self, speed: float, now_s: float) -> None:
        if speed <= 0:
            raise ValueError(f"playback speed must be positive, got {speed}")
        self.speed = speed
        if self.playing:
            self.play(now_s)  # restart the clock from the current frame

    def tick(self, now_s: float) -> int:
        """Advance to the frame due at wall time ``now_s``; returns it."""
        if not self.playing:
            return self.frame
        clip_ms = self._start_clip_ms + (now_s - self._start_wall_s) * 1000.0 * self.speed
        duration = self.duration_ms
        if clip_ms >= duration:
            if self.loop and duration > 0:
                clip_ms %= duration
            else:
                self.frame = self.n_frames - 1
                self.playing = False
                return self.frame
        self.frame = bisect.bisect_right(self.times_ms, self.times_ms[0] + clip_ms) - 1
        return self.frame
