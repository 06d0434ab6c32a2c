"""Progress of long phases as plain log lines with rate and ETA (logs go to CloudWatch, not a tty)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

_COUNT_SUFFIXES = ("", "K", "M", "B", "T")


def format_count(value: float) -> str:
    """Human-friendly count: 950, 12.5, 1.2K, 850K, 4.0M, 3.1B."""
    if not math.isfinite(value):
        return str(value)
    for power, suffix in enumerate(_COUNT_SUFFIXES):
        scaled = value / 1000**power
        text = _three_digits(scaled, whole=not suffix)
        if abs(float(text)) < 1000 or suffix == _COUNT_SUFFIXES[-1]:
            return text + suffix
    raise AssertionError("unreachable")


def _three_digits(scaled: float, whole: bool) -> str:
    if whole and float(scaled).is_integer():
        return str(int(scaled))
    return f"{scaled:.1f}" if abs(round(scaled, 1)) < 100 else f"{scaled:.0f}"


def format_duration(seconds: float) -> str:
    """3s, 2m05s, 1h02m."""
    if not math.isfinite(seconds):
        return "?"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    if seconds < 10 and not float(seconds).is_integer():
        return f"{seconds:.1f}s"
    return f"{secs}s"


@dataclass(frozen=True)
class ProgressSummary:
    count: int
    elapsed_s: float
    rate_per_s: float  # count / elapsed_s; inf when no time passed


class Progress:
    """Counts work done and logs at most once per interval_s, e.g.

    "epoch 3: 1.2M/4.0M ratings (30%), 850K ratings/s, ETA 3s"
    With total=None (size unknown) the line has no percentage or ETA.
    The clock is a dependency: tests pass a controllable one.
    """

    def __init__(
        self,
        logger: logging.Logger,
        label: str,
        total: int | None = None,
        unit: str = "ratings",
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._logger = logger
        self._label = label
        self._total = total
        self._unit = unit
        self._interval_s = interval_s
        self._clock = clock
        self._started = clock()
        self._last_logged = self._started
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def advance(self, n: int = 1) -> None:
        self._count += n
        now = self._clock()
        if now - self._last_logged >= self._interval_s:
            self._last_logged = now
            self._logger.info("%s", self._progress_line(now - self._started))

    def finish(self) -> ProgressSummary:
        elapsed = self._clock() - self._started
        summary = ProgressSummary(self._count, elapsed, _rate(self._count, elapsed))
        self._logger.info(
            "%s: done, %s %s in %s (%s %s/s)",
            self._label,
            format_count(self._count),
            self._unit,
            format_duration(elapsed),
            format_count(summary.rate_per_s),
            self._unit,
        )
        return summary

    def _progress_line(self, elapsed: float) -> str:
        rate = _rate(self._count, elapsed)
        rate_text = f"{format_count(rate)} {self._unit}/s"
        if self._total is None:
            return f"{self._label}: {format_count(self._count)} {self._unit}, {rate_text}"
        percent = 100.0 * self._count / self._total if self._total else 100.0
        remaining = max(self._total - self._count, 0)
        eta = remaining / rate if rate > 0 else math.inf
        return (
            f"{self._label}: {format_count(self._count)}/{format_count(self._total)} {self._unit} "
            f"({percent:.0f}%), {rate_text}, ETA {format_duration(eta)}"
        )


def _rate(count: int, elapsed: float) -> float:
    if elapsed > 0:
        return count / elapsed
    return math.inf if count else 0.0
