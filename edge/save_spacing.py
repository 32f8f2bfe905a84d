"""Spacing between saved crack frames: one frame per stretch of road, not one per video frame.

A survey vehicle at 50 km/h and 10 FPS moves 1.4 m between frames, while one frame shows several
metres of road: without spacing, the same crack is saved in every frame that sees it. With
`save.min_spacing_m` a crack frame is saved only when the vehicle has moved at least that far (GPS,
great-circle distance) since the last saved crack frame; set it at most to the length of road a frame
shows, and every stretch of road with a crack still has a saved frame (a crack a skipped frame
shows stays in view until the vehicle has moved past it, so a later frame, past the spacing, sees it
too). A stationary vehicle saves its stretch once. `save.min_interval_s` spaces crack frames in time
instead: for a vehicle without GPS, and while the GPS has no fix (a crack frame is never withheld for
want of a position: with neither rule applicable, it is saved).

Only the "crack" reason is spaced: `save.every_nth` frames are saved as configured. Withheld frames
are counted (`saved.skipped_spacing`) and, like frames below the threshold, get no measurement,
overlay or JPEG.
"""

from __future__ import annotations

import math
from typing import Any, Optional

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)


def ground_distance_m(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Great-circle (haversine) distance in metres between two fixes with `lat` and `lon` in degrees."""
    lat1, lat2 = math.radians(a["lat"]), math.radians(b["lat"])
    dlat = lat2 - lat1
    dlon = math.radians(b["lon"] - a["lon"])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _located(position: Optional[dict[str, Any]]) -> bool:
    return position is not None and position.get("lat") is not None and position.get("lon") is not None


class SaveSpacing:
    """Decides whether a crack frame is far enough (metres or seconds) from the last saved one.

    Used by the postprocess stage alone (one thread): `allows()` for each crack frame, `saved()` for
    each crack frame that is passed on to be saved.
    """

    def __init__(self, min_spacing_m: float = 0.0, min_interval_s: float = 0.0) -> None:
        if min_spacing_m < 0 or min_interval_s < 0:
            raise ValueError(f"spacing must be >= 0 (min_spacing_m={min_spacing_m}, min_interval_s={min_interval_s})")
        self.min_spacing_m = float(min_spacing_m)
        self.min_interval_s = float(min_interval_s)
        self._last_t: Optional[float] = None
        self._last_position: Optional[dict[str, Any]] = None

    @property
    def enabled(self) -> bool:
        return self.min_spacing_m > 0 or self.min_interval_s > 0

    def allows(self, t_mono: float, position: Optional[dict[str, Any]]) -> bool:
        """True when a crack frame captured at `t_mono` (seconds, monotonic) at `position` (a GPS fix
        dict or None) may be saved: by distance when both it and the last saved frame have a position
        and `min_spacing_m` is set, else by time when `min_interval_s` is set, else always."""
        if self._last_t is None:
            return True
        if self.min_spacing_m > 0 and _located(position) and _located(self._last_position):
            return ground_distance_m(self._last_position, position) >= self.min_spacing_m
        if self.min_interval_s > 0:
            return t_mono - self._last_t >= self.min_interval_s
        return True

    def saved(self, t_mono: float, position: Optional[dict[str, Any]]) -> None:
        """Record a crack frame passed on to be saved (the reference for the next decisions). A frame
        without a position keeps the last known one as the distance reference."""
        self._last_t = t_mono
        if _located(position):
            self._last_position = position
