"""Tables of the repo stats domain.

`github_users` are the tracked GitHub accounts and `repos` their repositories, both keyed by
GitHub's own numeric ids (a renamed login or repository is followed, not duplicated);
`stats` holds one row per repository per UTC day, with its own id; `github_list_pages`
keeps REST mode's list pages with their ETags, so an unchanged page costs nothing tomorrow.
`history_points` are the days before tracking, reconstructed from GitHub's lists of
stargazers and forks (never mixed with the readings in `stats`), and `history_reads` how far
each repository's reconstruction has got.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.core.db import Base, BigId, UTCDateTime, utcnow


class GithubUser(Base):
    __tablename__ = "github_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    login: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(256))
    # GraphQL's global id: looking the user up by it follows a renamed login (older GitHub
    # Enterprise has none; then the login is used).
    node_id: Mapped[str | None] = mapped_column(String(128))
    # "User" or "Organization": REST lists their repositories at different routes.
    kind: Mapped[str] = mapped_column(String(16), default="User", server_default="User")
    tracked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The UTC day of the last complete scan: the daily scan takes users behind today.
    scanned_on: Mapped[date | None] = mapped_column(Date(), index=True)
    # The last failed attempt, shown to operators; cleared by a complete scan.
    scan_error: Mapped[str | None] = mapped_column(String(500))
    # A scanner's lease on this user, so overlapping scans never do the same user twice.
    scan_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The daily scan leaves this user alone until then: GitHub's rate-limit reset, or a
    # while after a failure (a deleted account must not cost a request every few minutes).
    scan_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Today's scan under way (cut short by a limit, it resumes): when it began, so the
    # repositories read since are not read again, and where GraphQL's pages stopped.
    scan_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scan_cursor: Mapped[str | None] = mapped_column(String(256))


class Repo(Base):
    __tablename__ = "repos"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("github_users.id", ondelete="CASCADE"), index=True
    )
    full_name: Mapped[str] = mapped_column(String(256))
    # REST mode: the repository's ETag and the counts it vouches for (a 304 reuses them).
    etag: Mapped[str | None] = mapped_column(String(256))
    stargazers: Mapped[int] = mapped_column(Integer, default=0)
    forks: Mapped[int] = mapped_column(Integer, default=0)
    # None: listed, but GitHub would not show the repository's details (no figure made up).
    watchers: Mapped[int | None] = mapped_column(Integer)
    # When these counts were read.
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Stat(Base):
    __tablename__ = "stats"
    __table_args__ = (UniqueConstraint("repo_id", "date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date())
    stargazers: Mapped[int] = mapped_column(Integer)
    forks: Mapped[int] = mapped_column(Integer)
    watchers: Mapped[int | None] = mapped_column(Integer)


class GithubListPage(Base):
    __tablename__ = "github_list_pages"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("github_users.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1, 2, ... as walked
    url: Mapped[str] = mapped_column(String(2048))
    etag: Mapped[str | None] = mapped_column(String(256))
    next_url: Mapped[str | None] = mapped_column(String(2048))
    # [[id, full_name, stargazers, forks], ...] as the page listed them.
    items: Mapped[list[Any]] = mapped_column(JSON)


class HistoryRead(Base):
    """How far the reconstruction of one repository's stars (or forks) has got: GitHub's
    list of them, oldest first, read page by page up to `through`, the day before the user
    was tracked (from then on the daily scan reads the real numbers). Where GitHub's cap
    stops that read, the list is read on from its newest end (GraphQL) towards the days
    read: the days between the two, if any are left, are estimated."""

    __tablename__ = "history_reads"

    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(8), primary_key=True)  # "stars" or "forks"
    through: Mapped[date] = mapped_column(Date())
    # The page to read next; None once the read is over.
    next_url: Mapped[str | None] = mapped_column(String(2048))
    # Counted so far (those up to `through`).
    counted: Mapped[int] = mapped_column(Integer, default=0)
    # GitHub's pagination cap stopped the read: the days after `known_until` are estimated,
    # on a straight line up to the first day the newest end knows (`exact_from`), or else
    # to `total_at_tracking` (the count the first scan read).
    known_until: Mapped[date | None] = mapped_column(Date())
    total_at_tracking: Mapped[int | None] = mapped_column(Integer)
    # The newest end, read once the oldest is capped: GraphQL's cursor of the next page,
    # the list's count when its first page was read (what the days are counted back from),
    # how many of its items have been seen, on how many pages, and the earliest day whose
    # count is known from them (it and every day after it, up to `through`, are exact).
    newest_cursor: Mapped[str | None] = mapped_column(String(512))
    newest_total: Mapped[int | None] = mapped_column(Integer)
    newest_seen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    newest_pages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    exact_from: Mapped[date | None] = mapped_column(Date())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A backfill run reading this list holds it until then (renewed with each page), so
    # two runs at once (beat's and a new user's) never read the same pages twice.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HistoryPoint(Base):
    """A repository's stars (or forks) at the end of a day they changed, counted from
    GitHub's lists; the days between carry the last point's count."""

    __tablename__ = "history_points"

    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(8), primary_key=True)
    date: Mapped[date] = mapped_column(Date(), primary_key=True)
    total: Mapped[int] = mapped_column(Integer)
