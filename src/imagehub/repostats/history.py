"""The days before tracking, reconstructed from GitHub's lists (pure rules, no I/O).

A repository's stars are counted by the day each of today's stargazers starred, its forks
by the day each fork was made, both read oldest first up to the day before tracking
(someone who starred and left, or a deleted fork, is not in the lists: the counts are
today's members, by the day they came). A count is stored only on the days it changed;
the days between carry it.

Past GitHub's pagination cap the oldest-first read stops. The list is then read newest
first (GraphQL orders it either way), each day's count being the list's total less those
that came after that day, until it reaches the days read from the other end, or its page
budget runs out. The days still unknown between the two ends (if any) are estimated, on a
straight line between the two known counts; with no newest end (no token), up to the
count the first scan read on the tracking day.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Literal

Source = Literal["scan", "reconstructed", "estimated"]


def count_page(
    moments: Iterable[datetime], counted: int, through: date
) -> tuple[int, dict[date, int], bool]:
    """A page of the list (oldest first) added to what was counted: the new count, the
    count at the end of each day the page touched, and whether the list has gone past
    `through` (the rest is the daily scan's)."""
    points: dict[date, int] = {}
    for moment in moments:
        day = moment.astimezone(UTC).date()
        if day > through:
            return counted, points, True
        counted += 1
        points[day] = counted
    return counted, points, False


def count_newest_page(
    moments: Iterable[datetime], seen: int, total: int, through: date, known_from: date | None
) -> tuple[int, dict[date, int], date | None]:
    """A page of the list newest first, `total` long: how many of it are seen now, the
    count at the end of each day first met on this page (the total less all those seen
    before it: they came later), and the earliest day met up to `through`, whose count
    and every later day's are known from here."""
    points: dict[date, int] = {}
    for moment in moments:
        day = moment.astimezone(UTC).date()
        if day <= through and (known_from is None or day < known_from):
            points[day] = total - seen
            known_from = day
        seen += 1
    return seen, points, known_from


def ends_meet(known_until: date | None, exact_from: date | None) -> bool:
    """Whether a capped read's two ends leave no day unknown between them."""
    return known_until is None or (
        exact_from is not None and exact_from <= known_until + timedelta(days=1)
    )


@dataclass(frozen=True)
class Reconstruction:
    """One finished read of a repository's stars or forks: its points (day, count) in
    order, and where GitHub's cap left days to estimate."""

    points: Sequence[tuple[date, int]]
    through: date
    known_until: date | None = None  # capped: the last day counted in full from the oldest
    total_at_tracking: int | None = None
    exact_from: date | None = None  # capped: the first day known from the newest end

    @property
    def first_day(self) -> date | None:
        return self.points[0][0] if self.points else None

    def on(self, day: date) -> tuple[int, bool]:
        """The count at the end of `day` (at most `through`), and whether it is estimated."""
        known_until = self.known_until
        if known_until is None or day <= known_until:
            return self._exact(day), False
        if self.exact_from is not None and day >= self.exact_from:
            return self._exact(day), False
        start = self._exact(known_until)
        if self.exact_from is not None:
            end_day, end = self.exact_from, self._exact(self.exact_from)
        else:
            end_day = self.through + timedelta(days=1)
            end = self.total_at_tracking if self.total_at_tracking is not None else start
        share = (day - known_until).days / (end_day - known_until).days
        return start + round((max(end, start) - start) * share), True

    @cached_property
    def _days(self) -> list[date]:
        return [point[0] for point in self.points]

    def _exact(self, day: date) -> int:
        index = bisect_right(self._days, day)
        return self.points[index - 1][1] if index else 0


@dataclass(frozen=True)
class HistoryDay:
    day: date
    stargazers: int
    forks: int
    source: Source


def history_days(
    stars: Reconstruction, forks: Reconstruction, start: date, end: date
) -> list[HistoryDay]:
    """A repository's reconstructed days within [start, end]: from its first star or
    fork to the day before tracking."""
    firsts = [day for day in (stars.first_day, forks.first_day) if day is not None]
    if not firsts:
        return []
    day, last = max(start, min(firsts)), min(end, stars.through, forks.through)
    days = []
    while day <= last:
        stargazers, stars_estimated = stars.on(day)
        forked, forks_estimated = forks.on(day)
        source: Source = "estimated" if stars_estimated or forks_estimated else "reconstructed"
        days.append(HistoryDay(day, stargazers, forked, source))
        day += timedelta(days=1)
    return days
