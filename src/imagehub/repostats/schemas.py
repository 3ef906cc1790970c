from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from imagehub.core.fields import UtcDateTime


class TrackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # GitHub logins: 1-39 characters, letters, digits and single hyphens.
    login: str = Field(min_length=1, max_length=39, pattern=r"^[A-Za-z0-9](?:-?[A-Za-z0-9])*$")


class GithubUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    login: str
    name: str | None
    kind: Literal["User", "Organization"]
    tracked_at: UtcDateTime
    scanned_on: date | None
    scan_error: str | None
    # The daily scan leaves the user until then (a rate limit's reset, or after a failure).
    scan_retry_at: UtcDateTime | None
    # Today's scan began then and is not complete yet (a rate limit cut it short; it goes
    # on from where it stopped).
    scan_started_at: UtcDateTime | None


class HistoryOut(BaseModel):
    """How far the reconstruction of the user's repositories' history has got."""

    state: Literal["pending", "running", "done", "estimated"] = Field(
        description="pending: not begun; running: under way; done: every repository's stars "
        "and forks read back to the first; estimated: done, with days GitHub's pagination "
        "cap left unread (between a list's two ends) estimated"
    )
    repositories: int
    finished: int = Field(description="repositories whose stars and forks are both read")


class GithubUserDetailOut(GithubUserOut):
    history: HistoryOut


class StatsUserOut(BaseModel):
    id: int
    login: str
    name: str | None


class RepoOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    full_name: str
    stargazers: int
    forks: int
    # null: GitHub listed the repository but would not show its details (deleted or made
    # private since the list) when it was read; no figure is made up.
    watchers: int | None


class StatOut(BaseModel):
    repo_id: int
    date: date
    stargazers: int
    forks: int
    # null: GitHub listed the repository but would not show its details (deleted or made
    # private since the list) when it was read; no figure is made up.
    watchers: int | None


class StatsOut(BaseModel):
    """The stats payload in the shape the contract fixes: the user, then one row per
    repository per day."""

    user: StatsUserOut
    stats: list[StatOut]


class HistoryStatOut(StatOut):
    source: Literal["scan", "reconstructed", "estimated"] = Field(
        description="scan: read that day; reconstructed: counted from GitHub's lists of "
        "stargazers and forks (watchers null); estimated: a day GitHub's pagination cap "
        "left unread, on a straight line between the days known on either side"
    )


class StatsWithHistoryOut(BaseModel):
    """`?include=history`: the days read and the days before tracking reconstructed."""

    user: StatsUserOut
    stats: list[HistoryStatOut]


class ScanAccepted(BaseModel):
    message: str
    queued_at: datetime
