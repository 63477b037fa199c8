"""Observed latency: :class:`LatencySketch`, a decaying, mergeable quantile sketch.

A DDSketch (Masson et al., VLDB 2019) with forward exponential
decay (Cormode et al., ICDE 2009). Values go to logarithmic buckets ``(γ^(i-1), γ^i]``,
``γ = (1+α)/(1-α)``, α = 2 %: the value returned for a quantile is within 2 % (relative) of the
true weighted quantile — exact rank, no sampling error. Each observation weighs ``2^(t/half_life)``
(half-life 5 min by default), so the p50 follows the recent past; weights are renormalised when
they grow, dropping buckets under 1e-12 of the total weight (no visible change). Sketches merge
(:meth:`LatencySketch.merge`: bucket-wise sums after aligning the decay landmark, the same result
as one sketch fed both streams). At most ``max_bins`` (128) buckets: beyond that the lowest ones are
collapsed, which can only affect quantiles below ``max/γ^128`` (a 167× range). Memory: ~4 KB per
model in practice (lognormal latencies with σ = 0.5 fill ~80 buckets), at most ~10 KB (128
buckets).

The saved form (:mod:`localrouter.runtime.persist`) keeps the buckets as they are and the decay
landmark in wall-clock seconds (:meth:`LatencySketch.saved`, :meth:`LatencySketch.from_saved`), so
observations keep ageing while the gateway is down.
"""

from __future__ import annotations

import math

from localrouter.runtime.persist import SavedSketch


class LatencySketch:
    """A decaying, mergeable quantile sketch of latencies in ms (module doc: error bound)."""

    ALPHA = 0.02
    GAMMA = (1 + ALPHA) / (1 - ALPHA)
    LOG_GAMMA = math.log(GAMMA)
    MIN_MS = 0.01  # smaller values are counted as this
    __slots__ = ("_bins", "_landmark", "_total", "half_life_s", "max_bins")

    def __init__(self, half_life_s: float = 300.0, max_bins: int = 128) -> None:
        if half_life_s <= 0 or max_bins < 2:
            raise ValueError("half_life_s must be > 0 and max_bins >= 2")
        self.half_life_s = half_life_s
        self.max_bins = max_bins
        self._bins: dict[int, float] = {}
        self._landmark: float | None = None
        self._total = 0.0

    def __len__(self) -> int:
        return len(self._bins)

    @property
    def weight(self) -> float:
        return self._total

    def _rebase(self, now: float) -> None:
        """Move the decay landmark to ``now`` (weights rescaled, negligible buckets dropped)."""
        if self._landmark is not None and self._bins:
            f = 2.0 ** ((self._landmark - now) / self.half_life_s)
            floor = self._total * f * 1e-12
            self._bins = {i: w * f for i, w in self._bins.items() if w * f > floor}
            self._total = math.fsum(self._bins.values())
        self._landmark = now

    def add(self, value_ms: float, now: float) -> None:
        if not math.isfinite(value_ms) or value_ms < 0:
            return
        if self._landmark is None or abs(now - self._landmark) > 32 * self.half_life_s:
            self._rebase(now)
        assert self._landmark is not None
        w = 2.0 ** ((now - self._landmark) / self.half_life_s)
        i = math.ceil(math.log(max(value_ms, self.MIN_MS)) / self.LOG_GAMMA)
        self._bins[i] = self._bins.get(i, 0.0) + w
        self._total += w
        if len(self._bins) > self.max_bins:
            self._collapse()

    def _collapse(self) -> None:
        keys = sorted(self._bins)
        extra = len(keys) - self.max_bins
        moved = math.fsum(self._bins.pop(k) for k in keys[:extra])
        self._bins[keys[extra]] += moved

    def quantile(self, q: float) -> float | None:
        """The smallest bucket value v with weight(≤ v) ≥ q·total, ±α relative; None if empty."""
        if not self._bins or self._total <= 0:
            return None
        target = min(max(q, 0.0), 1.0) * self._total * (1 - 1e-12)
        cum = 0.0
        keys = sorted(self._bins)
        for i in keys:
            cum += self._bins[i]
            if cum >= target:
                break
        return 2.0 * self.GAMMA**i / (self.GAMMA + 1.0)

    def merge(self, other: LatencySketch) -> None:
        """Add ``other``'s observations to this sketch (``other`` is unchanged)."""
        if other._landmark is None or not other._bins:
            return
        if self._landmark is None or other._landmark > self._landmark:
            self._rebase(other._landmark)
        assert self._landmark is not None
        f = 2.0 ** ((other._landmark - self._landmark) / self.half_life_s)
        for i, w in other._bins.items():
            self._bins[i] = self._bins.get(i, 0.0) + w * f
        self._total = math.fsum(self._bins.values())
        if len(self._bins) > self.max_bins:
            self._collapse()

    def saved(self, now: float, wall_now: float) -> SavedSketch:
        """This sketch as saved: ``now`` is its clock's time, ``wall_now`` the wall clock's."""
        if self._landmark is None or not self._bins:
            return SavedSketch(None, ())
        landmark = wall_now - (now - self._landmark)
        return SavedSketch(landmark, tuple(sorted(self._bins.items())))

    @classmethod
    def from_saved(
        cls, saved: SavedSketch, now: float, wall_now: float, half_life_s: float = 300.0
    ) -> LatencySketch:
        """A sketch from its saved form, aged by the wall-clock time since it was saved (a
        landmark in the future — a clock stepped back — counts as now)."""
        sketch = cls(half_life_s)
        if saved.landmark is None or not saved.bins:
            return sketch
        sketch._landmark = now - max(0.0, wall_now - saved.landmark)
        sketch._bins = dict(saved.bins)
        sketch._total = math.fsum(sketch._bins.values())
        if len(sketch._bins) > sketch.max_bins:
            sketch._collapse()
        return sketch
