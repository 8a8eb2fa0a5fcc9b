"""The needs picture's rules: which counts may be shown, the periods and bands counts are
grouped in, durations counted in fixed steps, which deleted posts stay counted, the
frequent words of need titles, and cells safe to open in a spreadsheet.

Pure: no I/O (the counting is SQL in ``fediaid/storage/picture.py``).

Nobody may be singled out, so no count below ``HIDE_BELOW`` (0 included) is shown: the page
says "fewer than 5". A hidden count must not be recoverable from the totals either
(complementary disclosure): when a total is shown and only one count under it is hidden,
total minus the others gives it away. ``protect`` hides more counts, smallest first (or,
as a last resort, the total), until no hidden count can be worked out exactly from what
is shown: each hidden count is known to lie in 0..4 ("fewer than 5") or to be 5 or more
("hidden" so that another cannot be worked out), and the check takes those bounds into
account (two hidden counts of "fewer than 5" under a total that leaves 8 for them would
both be 4). A hidden count that can only be 0 may be worked out: it singles out nobody.
"""

from __future__ import annotations

import calendar
import enum
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from fediaid.domain.posts import Post, State

#: Counts below this are never shown.
HIDE_BELOW = 5
#: The picture looks back this many months (the current one included).
MONTHS = 12
#: How long open needs have waited: band limits in days (under 3, 3-7, 7-14, 14 and more).
AGE_BANDS_DAYS: tuple[int, ...] = (3, 7, 14)
#: A word from need titles is listed only when at least this many different posts, from at
#: least this many different askers, use it.
WORD_MIN_POSTS = 5
WORD_MIN_ASKERS = 5
WORDS_SHOWN = 10
#: Need titles read for the frequent words (the newest ones).
WORD_TITLES_MAX = 5000


class Hidden(enum.StrEnum):
    SMALL = "small"  # fewer than HIDE_BELOW
    COMPLEMENT = "complement"  # HIDE_BELOW or more, hidden so a small one cannot be worked out


@dataclass(frozen=True)
class Count:
    """A count as shown: ``value`` None when hidden (``hidden`` says why)."""

    value: int | None
    hidden: Hidden | None = None

    @property
    def shown(self) -> bool:
        return self.value is not None


def _bounds(kind: Hidden) -> tuple[float, float]:
    return (0.0, float(HIDE_BELOW - 1)) if kind is Hidden.SMALL else (float(HIDE_BELOW),
                                                                       math.inf)


def _hidden_kind(value: int) -> Hidden:
    return Hidden.SMALL if value < HIDE_BELOW else Hidden.COMPLEMENT


@dataclass
class _List:
    values: list[int]
    hidden: set[int]

    def shown_sum(self) -> int:
        return sum(v for i, v in enumerate(self.values) if i not in self.hidden)

    def bounds(self) -> list[tuple[int, float, float]]:
        return [(i, *_bounds(_hidden_kind(self.values[i]))) for i in sorted(self.hidden)]

    def total_range(self) -> tuple[float, float]:
        """What the total can be, seen from this list alone."""
        b = self.bounds()
        return (self.shown_sum() + sum(lo for _, lo, _ in b),
                self.shown_sum() + sum(hi for _, _, hi in b))

    def pinned(self, t_lo: float, t_hi: float) -> bool:
        """Whether some hidden count can be worked out exactly when a reader knows the
        total lies in ``t_lo..t_hi`` (one worked out to be 0 singles out nobody)."""
        b = self.bounds()
        d_lo, d_hi = t_lo - self.shown_sum(), t_hi - self.shown_sum()
        for i, lo, hi in b:
            others_lo = sum(o_lo for j, o_lo, _ in b if j != i)
            others_hi = sum(o_hi for j, _, o_hi in b if j != i)
            low = max(lo, d_lo - others_hi)
            high = min(hi, d_hi - others_lo)
            if low >= high and low > 0:
                return True
        return False

    def hide_smallest(self) -> bool:
        shown = [(v, i) for i, v in enumerate(self.values) if i not in self.hidden]
        if not shown:
            return False
        self.hidden.add(min(shown)[1])
        return True


@dataclass(frozen=True)
class Protected:
    """Lists of counts that share one total, as they may be shown."""

    lists: tuple[tuple[Count, ...], ...]
    total: Count
    # What a reader can tell about the total (exactly the total when it is shown).
    total_range: tuple[float, float]


def protect(lists: Sequence[Sequence[int]], total: int, *,
            total_range: tuple[float, float] | None = None) -> Protected:
    """Hide counts in ``lists`` (each adds up to ``total``: the same posts counted by
    category, by area, by month ...) so that no hidden count can be worked out exactly.

    ``total_range``: the total is not shown here (it is hidden elsewhere) and a reader can
    only tell it lies in this range. Otherwise the total is shown when it is at least
    ``HIDE_BELOW``, unless hiding it is the only way to protect a count.
    """
    work = [_List(list(v), {i for i, x in enumerate(v) if x < HIDE_BELOW}) for v in lists]
    for lst in work:
        if sum(lst.values) != total:
            raise ValueError("a list does not add up to its total")
    total_shown = total_range is None and total >= HIDE_BELOW
    outer = total_range if total_range is not None else (
        (float(total), float(total)) if total_shown else _bounds(_hidden_kind(total)))
    while True:
        t_lo, t_hi = _reader_range(work, outer, total_shown, total)
        leaking = [lst for lst in work if lst.pinned(t_lo, t_hi)]
        if not leaking:
            break
        progressed = False
        for lst in leaking:
            progressed = lst.hide_smallest() or progressed
        if not progressed:
            if total_shown:
                total_shown = False  # the last resort: the total goes
                outer = _bounds(_hidden_kind(total))
                continue
            # The other lists tell the hidden total: hide their smallest shown count.
            if not _hide_smallest_anywhere(work):
                break  # everything is hidden: nothing more can be done
    t_range = _reader_range(work, outer, total_shown, total)
    return Protected(
        lists=tuple(tuple(Count(None, _hidden_kind(v)) if i in lst.hidden else Count(v)
                          for i, v in enumerate(lst.values)) for lst in work),
        total=Count(total) if total_shown else Count(None, _hidden_kind(total)),
        total_range=t_range)


def _hide_smallest_anywhere(work: Sequence[_List]) -> bool:
    shown = [(v, n, i) for n, lst in enumerate(work) for i, v in enumerate(lst.values)
             if i not in lst.hidden]
    if not shown:
        return False
    _, n, i = min(shown)
    work[n].hidden.add(i)
    return True


def _reader_range(work: Sequence[_List], outer: tuple[float, float], total_shown: bool,
                  total: int) -> tuple[float, float]:
    if total_shown:
        return float(total), float(total)
    lo, hi = outer
    for lst in work:
        a, b = lst.total_range()
        lo, hi = max(lo, a), min(hi, b)
    return lo, hi


def protect_one(values: Sequence[int], total: int) -> tuple[tuple[Count, ...], Count]:
    """One list and its total."""
    p = protect([values], total)
    return p.lists[0], p.total


def small_count(value: int) -> Count:
    """A count shown on its own (no total it adds up to)."""
    return Count(value) if value >= HIDE_BELOW else Count(None, Hidden.SMALL)


# -- periods and bands -------------------------------------------------------------------

def month_starts(now: datetime, months: int = MONTHS) -> list[datetime]:
    """The first instants (UTC) of the last ``months`` months, oldest first, ending with
    the current month."""
    now = now.astimezone(UTC)
    year, month = now.year, now.month
    out = []
    for _ in range(months):
        out.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def age_limits(now: datetime) -> list[datetime]:
    """Creation times that separate the age bands, newest limit first: a need created
    after ``limits[0]`` is in the first band (under AGE_BANDS_DAYS[0] days old)."""
    return [now - timedelta(days=d) for d in AGE_BANDS_DAYS]


def age_band_keys() -> list[str]:
    """"0-3", "3-7", "7-14", "14+": the bands, youngest first."""
    edges = (0, *AGE_BANDS_DAYS)
    return [f"{a}-{b}" for a, b in pairwise(edges)] + [
        f"{AGE_BANDS_DAYS[-1]}+"]


def nearest_rank(n: int, percent: int) -> int:
    """The 1-based rank of the ``percent``th percentile of ``n`` sorted values (nearest-rank
    method: the smallest value with at least that share at or below it)."""
    return max(1, (n * percent + 99) // 100)


# -- durations, in steps -----------------------------------------------------------------

_HOUR, _DAY = 3600, 86400
#: "How quickly needs are met" counts each duration in the smallest of these steps (in
#: seconds) at or above it; longer than the last step counts as the last. Percentiles are
#: read from these counts, so the counts kept of deleted posts (``picture_times``) add up
#: with those of stored posts (a median cannot be merged from medians or sums). A shown
#: time is the step holding the nearest-rank value: the true value is at most that and
#: more than the step before, so the step is at most twice it up to 2 hours and at most
#: 1.5 times it from there on. Steps only ever added (kept rows name their step).
TIME_STEPS: tuple[int, ...] = (
    *(h * _HOUR for h in (1, 2, 3, 4, 6, 8, 12, 18, 24, 36, 48, 72, 96, 120, 144, 168)),
    *(d * _DAY for d in (10, 14, 21, 28, 42, 60, 90, 120, 180, 270, 365)))


def time_step(seconds: int) -> int:
    """The step (seconds) a duration of ``seconds`` (whole, as ``whole_seconds`` gives
    them at each end) is counted in."""
    for step in TIME_STEPS:
        if seconds <= step:
            return step
    return TIME_STEPS[-1]


def whole_seconds(moment: datetime) -> int:
    """Seconds since 1970 of ``moment`` with the fraction cut off: durations are the
    difference of two of these, the same in Python and in both databases' SQL."""
    return calendar.timegm(moment.astimezone(UTC).utctimetuple())


def step_percentiles(counts: Mapping[int, int], percents: Sequence[int]
                     ) -> tuple[int, tuple[float, ...]]:
    """How many durations ``counts`` (step in seconds -> how many) holds, and for each of
    ``percents`` the step (in days) holding its nearest-rank value."""
    n = sum(counts.values())
    out: list[float] = []
    if n == 0:
        return 0, ()
    for p in percents:
        rank, seen = nearest_rank(n, p), 0
        for step in sorted(counts):
            seen += counts[step]
            if seen >= rank:
                out.append(step / _DAY)
                break
    return n, tuple(out)


# -- what is kept of a deleted post ------------------------------------------------------

class Deletion(enum.StrEnum):
    """Why a post is deleted, which decides whether the picture keeps counting it."""

    RETENTION = "retention"  # closed, and the group's retention time has passed
    AUTHOR = "author"  # its author deleted it (or a coordinator for them; a remote Delete)
    ERASURE = "erasure"  # its author's (or, for proxy intake, the neighbor's) data erased
    REMOVED = "removed"  # a coordinator removed it (moderation) or turned it away


def counts(post: Post) -> bool:
    """Whether the picture counts ``post`` (the rule ``storage.picture.counted`` asks in
    SQL): the group's own posts and those it shares, never one held for approval or hidden
    by a coordinator."""
    return (post.local or post.via_group) and not post.held and not post.hidden


_DONE = frozenset({State.FULFILLED, State.PARTLY_FULFILLED, State.EXPIRED})


def kept_outcome(state: State, why: Deletion) -> str | None:
    """The outcome a deleted post is kept under in the picture's counts, or None when it
    stops counting (docs/needs-picture.md, "Counts kept after deletion").

    Retention and erasure keep every closed post, withdrawn ones too: the picture counted
    them while stored, and its numbers must not change when they go. An author deleting a
    post takes it back (it may have been a mistake) unless it was already fulfilled, partly
    fulfilled or expired: the need was real, and what became of it is the group's history.
    Removed by a coordinator (abuse, spam) or turned away: never counted.
    """
    if not state.closed or why is Deletion.REMOVED:
        return None
    if why is Deletion.AUTHOR and state not in _DONE:
        return None
    return state.value


def month_key(moment: datetime) -> str:
    """"2026-03": the month (UTC) a post is counted in."""
    return f"{moment.astimezone(UTC):%Y-%m}"


# -- words -------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]{3,}")
STOPWORDS = frozenset("""
a an and any are for from have help her his our out some that the their them this with
your you need needs needed looking anyone someone please can could would who get got
about just will into one two our us per week day days today tomorrow
una uno unos unas los las del con por para que necesito necesita necesitamos busco
alguien ayuda favor como este esta esto más mas hay muy sus mis
""".split())


@dataclass(frozen=True)
class Word:
    word: str
    posts: int


def frequent_words(titles: Iterable[tuple[str, str]], *, min_posts: int = WORD_MIN_POSTS,
                   min_askers: int = WORD_MIN_ASKERS, limit: int = WORDS_SHOWN
                   ) -> list[Word]:
    """The words most used in need titles (``(asker, title)`` pairs: ``asker`` stands for
    who asked, so that one person's five posts cannot list their own words), each counted
    once per post; only words from at least ``min_posts`` posts by ``min_askers`` askers.
    Words with digits and common words (English and Spanish) are left out."""
    posts: dict[str, int] = defaultdict(int)
    askers: dict[str, set[str]] = defaultdict(set)
    for asker, title in titles:
        for word in {w.casefold() for w in _WORD.findall(title)}:
            if word in STOPWORDS:
                continue
            posts[word] += 1
            askers[word].add(asker)
    found = [Word(w, n) for w, n in posts.items()
             if n >= max(min_posts, HIDE_BELOW) and len(askers[w]) >= min_askers]
    found.sort(key=lambda w: (-w.posts, w.word))
    return found[:limit]


# -- spreadsheets ------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or a tab or
    carriage return) gets a leading apostrophe (OWASP "CSV injection")."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text
