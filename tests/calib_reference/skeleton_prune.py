"""Spur pruning: remove short skeleton arms that only reach into the crack's own width.

Thinning leaves small side branches where the mask has a corner or a bump: at a flat crack end the
skeleton forks towards both corners, and a rough edge grows a short twig. Such an arm runs from a
free end to a junction and is not longer than about the crack's half-width there, so it says
nothing about the crack's shape. `prune_spurs` walks from every free end towards the skeleton's
interior (all ends at once, vectorised over the walkers) and deletes the arms that reach a junction
within SPUR_FACTOR * d + SPUR_EXTRA_PX pixels, where d is the distance transform at the junction.
"""

from __future__ import annotations

import numpy as np

from tests.calib_reference.skeleton import POPCOUNT, flat_offsets, neighbour_codes, remove_staircases

SPUR_FACTOR = 1.5
SPUR_EXTRA_PX = 1.0


def prune_spurs(flat: np.ndarray, idx: np.ndarray, width: int, half_width_at: np.ndarray) -> np.ndarray:
    """Delete spurs from the skeleton in the padded flat image `flat` (in place).

    idx: sorted flat indices of the skeleton pixels; half_width_at: distance transform value at each
    of them (same order). Returns the sorted indices of the remaining skeleton pixels.
    """
    if idx.size == 0:
        return idx
    offsets = flat_offsets(width)
    deg = POPCOUNT[neighbour_codes(flat, idx, offsets)]
    ends = idx[deg == 1]
    if ends.size == 0 or not np.any(deg >= 3):
        return idx
    max_steps = int(np.ceil(SPUR_FACTOR * half_width_at.max() + SPUR_EXTRA_PX)) + 1
    path = np.zeros((max_steps + 1, ends.size), dtype=np.int64)
    cur, prev = ends.copy(), np.full(ends.size, -1, dtype=np.int64)
    active = np.ones(ends.size, dtype=bool)
    spur = np.zeros(ends.size, dtype=bool)
    steps = np.zeros(ends.size, dtype=np.int64)
    for step in range(max_steps + 1):
        pos = np.searchsorted(idx, cur)
        here_deg = deg[pos]
        at_junction = active & (here_deg >= 3)
        limit = SPUR_FACTOR * half_width_at[pos] + SPUR_EXTRA_PX
        spur |= at_junction & (steps <= limit)
        active &= ~at_junction & ~((here_deg == 1) & (step > 0))
        if step == max_steps or not active.any():
            break
        path[step] = np.where(active, cur, -1)
        nb = cur[:, None] + offsets[None, :]
        is_next = (flat[nb] == 1) & (nb != prev[:, None])
        nxt = nb[np.arange(cur.size), np.argmax(is_next, axis=1)]
        prev, cur = np.where(active, cur, prev), np.where(active, nxt, cur)
        steps += active
    doomed = path[:, spur]
    doomed = doomed[doomed >= 0]
    if doomed.size == 0:
        return idx
    flat[doomed] = 0
    idx = idx[flat[idx] == 1]
    return remove_staircases(flat, idx, offsets, width)
