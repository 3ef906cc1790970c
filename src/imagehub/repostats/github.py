"""GitHub's API, spent like money: every request counted, bounded and retried with care.

Two ways to read an account's repositories with stars, forks and watchers, page by page (the
scan stores each page before asking for the next, so a scan cut short resumes there):
- GraphQL (needs a token): 100 repositories and their counts per request, for users and
  organizations alike (`RepositoryOwner`).
- REST: the repository list (100 a page, by its `Link` header) gives stars and forks, and
  one request per repository gives the real watcher count (`subscribers_count`). Both are
  conditional (ETag): GitHub answers an unchanged one with a 304 that costs an authorized
  client no quota, so the stored page or counts stand for it.

History: a repository's stargazers (with `starred_at`, under GitHub's star media type) and
forks (`created_at`), oldest first, a page at a time (`history_page`); past GitHub's cap of
about 400 pages the list answers 422, which is reported, not raised. GraphQL (a token) has
no such cap and orders both lists by time either way: `newest_history_page` reads them
newest first, each page with the list's `totalCount` (the count the page's times are
counted back from).

Limits, as GitHub documents them: `Retry-After`; or `x-ratelimit-remaining: 0` until
`x-ratelimit-reset`; or, with neither (a 403 or 429 saying "secondary rate limit" or "abuse
detection"), at least a minute, doubling while they repeat. A short wait is waited out (and
nothing else is sent meanwhile); a longer one ends the work with `RateLimited`, and the
caller leaves the rest for beat. Each secondary limit also halves this client's pace.
5xx and timeouts are retried with exponential backoff; GET follows GitHub's redirects
(a renamed or transferred repository) within GitHub's own host. Every answer is checked
field by field before it is used: a malformed one is a `GitHubError`, never a `KeyError`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

import httpx
import pydantic
from aiolimiter import AsyncLimiter

from imagehub.core.config import Settings
from imagehub.core.metrics import GITHUB_QUOTA, GITHUB_REQUESTS

log = logging.getLogger(__name__)

PAGE_SIZE = 100
RETRIES = 4  # after the first try, for 5xx, timeouts and limits waited out
BACKOFF_SECONDS = 0.5  # doubled on each retry
LONGEST_WAIT_SECONDS = 60  # a longer wait ends the run (RateLimited) instead
SECONDARY_WAIT_SECONDS = 60  # GitHub: "wait for at least one minute" when it gives no hint
SLOWEST_PER_MINUTE = 6.0  # how far repeated secondary limits may slow the pace down
MOST_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 307, 308})

# One query per page of 100 repositories. By the account's global id when it has one (a
# renamed login is followed), else by login (older GitHub Enterprise has no `node_id`).
# Public repositories the account owns, forks included: the same set as REST's lists.
REPOSITORIES_QUERY = """
query ById($id: ID!, $after: String) {
  owner: node(id: $id) { ...Repositories }
}

query ByLogin($login: String!, $after: String) {
  owner: repositoryOwner(login: $login) { ...Repositories }
}

fragment Repositories on RepositoryOwner {
  __typename
  login
  ... on User { databaseId name }
  ... on Organization { databaseId name }
  repositories(
    first: 100
    after: $after
    privacy: PUBLIC
    ownerAffiliations: [OWNER]
    orderBy: {field: NAME, direction: ASC}
  ) {
    pageInfo { hasNextPage endCursor }
    nodes {
      databaseId
      nameWithOwner
      stargazerCount
      forkCount
      watchers { totalCount }
    }
  }
}
"""

# A page of a repository's stargazers (by when they starred) or forks (by when they were
# made), newest first. GraphQL's lists go past REST's 400-page cap.
NEWEST_QUERY = """
query Newest($owner: String!, $name: String!, $after: String, $stars: Boolean!) {
  repository(owner: $owner, name: $name) {
    stars: stargazers(first: 100, after: $after, orderBy: {field: STARRED_AT, direction: DESC})
    @include(if: $stars) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { at: starredAt }
    }
    forks(first: 100, after: $after, orderBy: {field: CREATED_AT, direction: DESC})
    @skip(if: $stars) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges: nodes { at: createdAt }
    }
  }
}
"""


class GitHubError(Exception):
    """GitHub answered something we cannot use (after retries, where retrying made sense)."""


class RateLimited(GitHubError):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"GitHub's rate limit holds until {until.isoformat()}")
        self.until = until


Kind = Literal["User", "Organization"]


def kind_of(account_type: str) -> Kind:
    """GitHub's account `type` as we list it: an organization, or like a user (bots too)."""
    return "Organization" if account_type == "Organization" else "User"


@dataclass(frozen=True)
class Account:
    id: int
    login: str
    name: str | None
    node_id: str | None
    kind: Kind = "User"


@dataclass
class RepoCounts:
    id: int
    full_name: str
    stargazers: int
    forks: int
    # None: GitHub listed the repository but would not show its details that day (deleted
    # or made private since the list); no figure is made up for it.
    watchers: int | None
    etag: str | None = None


@dataclass(frozen=True)
class Listed:
    """A repository as a REST list page shows it."""

    id: int
    full_name: str
    stargazers: int
    forks: int


@dataclass(frozen=True)
class ListPage:
    """One REST list page as read, kept with its ETag so tomorrow's 304 can stand for it."""

    number: int
    url: str
    etag: str | None
    next_url: str | None
    items: tuple[Listed, ...]


@dataclass
class Stored:
    """What the database knows of an account's scan: REST's ETags and the figures a 304
    vouches for, and where an unfinished scan of today stopped."""

    repos: dict[int, RepoCounts] = field(default_factory=dict)
    listings: dict[int, ListPage] = field(default_factory=dict)
    done: frozenset[int] = frozenset()  # repositories already read by today's scan
    cursor: str | None = None  # GraphQL: the page after the last one stored


@dataclass
class Page:
    """One step of a scan, to be stored before the next is asked for."""

    account: Account  # as GitHub has it now (login and name may have changed)
    repos: list[RepoCounts]
    last: bool  # the scan is complete once this page is stored
    cursor: str | None = None  # GraphQL: where to go on from
    listing: ListPage | None = None  # REST: the list page these repositories came from


Metric = Literal["stars", "forks"]


@dataclass(frozen=True)
class HistoryPage:
    """One page of a repository's stargazers (by when they starred) or forks (by when they
    were made), oldest first."""

    moments: tuple[datetime, ...]
    next_url: str | None
    # GitHub's pagination cap: this page and those after it will not be given.
    capped: bool = False
    # The repository answers 404 (deleted, or made private, since the scan listed it).
    gone: bool = False


@dataclass(frozen=True)
class NewestPage:
    """One page of a repository's stargazers or forks, newest first, with how many the
    whole list held when it was asked for."""

    moments: tuple[datetime, ...]
    total: int
    cursor: str | None  # the page after this one; None: the list is over
    gone: bool = False  # no such repository any more


@dataclass
class Usage:
    """What a client has sent, and how much of it GitHub answered with a 304."""

    requests: int = 0
    not_modified: int = 0
    # What GitHub last said of each rate-limit window (REST's "core", "graphql"): its size
    # and what is left of it. A backfill spends both; the scans need theirs kept.
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)

    def record(self, response: httpx.Response, limit: Limit | None) -> None:
        self.requests += 1
        self.not_modified += response.status_code == 304
        GITHUB_REQUESTS.labels(_outcome(response, limit)).inc()
        remaining = response.headers.get("x-ratelimit-remaining", "")
        quota = response.headers.get("x-ratelimit-limit", "")
        if _DIGITS.match(remaining) and _DIGITS.match(quota):
            resource = response.headers.get("x-ratelimit-resource", "core")
            self.windows[resource] = (int(quota), int(remaining))
            GITHUB_QUOTA.set(int(remaining))

    def spare(self, share: float) -> int | None:
        """Requests left in the scantiest window before less than this share of it is
        (None: GitHub has not said yet)."""
        if not self.windows:
            return None
        return min(left - math.ceil(size * share) for size, left in self.windows.values())

    def below(self, share: float) -> bool:
        """Less than this share of some window is left (as GitHub last said)."""
        return any(left < size * share for size, left in self.windows.values())


class Clock:
    """Time as the client waits on it; tests put one in that needs no real minute."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Limit:
    seconds: float
    # "quota": the hour's (or GraphQL's) points are spent, wait for the reset;
    # "secondary": too fast, wait as long as asked (or a minute) and slow down.
    kind: Literal["quota", "secondary"]
    hinted: bool  # GitHub said how long (Retry-After or the reset)


class GitHub:
    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ):
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "imagehub-repostats",
        }
        if settings.github_token:
            headers["Authorization"] = f"Bearer {settings.github_token.get_secret_value()}"
        self.has_token = settings.github_token is not None
        self.mode = settings.effective_github_mode
        if self.mode == "graphql" and not settings.github_token:
            raise GitHubError("GitHub's GraphQL API needs a token (IMAGEHUB_GITHUB_TOKEN)")
        limits = httpx.Limits(
            max_connections=settings.github_concurrency,
            max_keepalive_connections=settings.github_concurrency,
        )
        self._http = httpx.AsyncClient(
            base_url=settings.github_api_url.rstrip("/"),
            headers=headers,
            timeout=settings.github_timeout_seconds,
            limits=limits,
            transport=transport,
        )
        self._in_flight = asyncio.Semaphore(settings.github_concurrency)
        self._per_minute = float(
            settings.github_graphql_per_minute
            if self.mode == "graphql"
            else settings.github_rest_per_minute
        )
        self._pace = pace_limiter(self._per_minute)
        self._clock = clock or Clock()
        # A secondary limit pauses every request of this client until then (monotonic).
        self._paused_until = 0.0
        self._secondary_limits = 0
        self.usage = Usage()

    async def __aenter__(self) -> GitHub:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    # --- Requests ---------------------------------------------------------------------

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, paced and bounded; retried on 5xx, timeouts and limits short
        enough to wait out; `RateLimited` for a longer one."""
        for attempt in range(RETRIES + 1):
            await self._wait_for_pause()
            try:
                async with self._in_flight:
                    await self._pace.acquire()
                    response = await self._http.request(method, url, **kwargs)
            except httpx.TransportError as error:
                GITHUB_REQUESTS.labels("unreachable").inc()
                if attempt == RETRIES:
                    raise GitHubError(_unreachable(self._http.base_url, error)) from error
                await self._clock.sleep(BACKOFF_SECONDS * 2**attempt)
                continue
            limit = _limit(response, self._clock.now())
            self.usage.record(response, limit)
            if limit is not None:
                self._note(limit, attempt)
                continue
            if response.status_code >= 500:
                if attempt == RETRIES:
                    raise GitHubError(f"GitHub answered {response.status_code} for {url}")
                await self._clock.sleep(BACKOFF_SECONDS * 2**attempt)
                continue
            return response
        raise AssertionError("unreachable")

    def _note(self, limit: Limit, attempt: int) -> None:
        """Pause this client for as long as GitHub asks; RateLimited when that is longer
        than a run should wait. Requests in flight when a limit hits all see it: only the
        first starts a new pause (and slows the pace); the others join it."""
        now = self._clock.monotonic()
        if now >= self._paused_until:
            wait = limit.seconds
            if limit.kind == "secondary":
                self._secondary_limits += 1
                if not limit.hinted:  # GitHub: wait longer each time it repeats
                    wait *= 2 ** (self._secondary_limits - 1)
                self._slow_down()
            self._paused_until = now + wait
            log.warning("GitHub %s limit: pausing requests for %.0f s", limit.kind, wait)
        left = self._paused_until - now
        if _too_long(left) or attempt == RETRIES:
            raise RateLimited(self._clock.now() + timedelta(seconds=left))

    async def _wait_for_pause(self) -> None:
        left = self._paused_until - self._clock.monotonic()
        if _too_long(left):  # the run is over: nothing more is sent
            raise RateLimited(self._clock.now() + timedelta(seconds=left))
        if left > 0:
            await self._clock.sleep(left)

    def _slow_down(self) -> None:
        self._per_minute = max(SLOWEST_PER_MINUTE, self._per_minute / 2)
        self._pace = pace_limiter(self._per_minute)
        log.warning("GitHub secondary limit: pace now %.0f requests a minute", self._per_minute)

    async def _get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """GET, following GitHub's redirects (a renamed or transferred repository answers
        301 to `/repositories/{id}`) within GitHub's host, a bounded number of times."""
        start = url
        for _ in range(MOST_REDIRECTS + 1):
            response = await self._send("GET", url, headers=headers)
            if response.status_code not in REDIRECTS:
                return response
            location = response.headers.get("location")
            if not location:
                raise GitHubError(f"GitHub redirected {url} without saying where")
            url = self._within_github(str(response.request.url.join(location)))
        raise GitHubError(f"GitHub redirected {start} more than {MOST_REDIRECTS} times")

    def _within_github(self, url: str) -> str:
        """`url` if it is on GitHub's API host: the token must not follow a link elsewhere."""
        target, base = httpx.URL(url), self._http.base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise GitHubError(f"GitHub pointed outside its API ({target.host}); not followed")
        return url

    # --- Accounts -----------------------------------------------------------------------

    async def account(self, login: str) -> Account | None:
        """The user or organization with this login, or None when GitHub has none."""
        return await self._account(f"/users/{login}")

    async def account_by_id(self, account_id: int) -> Account | None:
        return await self._account(f"/user/{account_id}")

    async def _account(self, url: str) -> Account | None:
        response = await self._get(url)
        if response.status_code == 404:
            return None
        _expect(response, 200)
        user = _parse(_USER, response)
        return Account(user.id, user.login, user.name, user.node_id, user.kind)

    # --- Repositories ------------------------------------------------------------------

    def pages(self, owner: Account, stored: Stored) -> AsyncGenerator[Page, None]:
        """The account's public repositories with stars, forks and the real watcher count,
        a page at a time, from where `stored` says today's scan stopped. A page cut short
        by a limit or an error is given with what was read, then the error is raised."""
        if self.mode == "graphql":
            return self._graphql_pages(owner, stored.cursor)
        return self._rest_pages(owner, stored)

    async def _graphql_pages(
        self, owner: Account, cursor: str | None
    ) -> AsyncGenerator[Page, None]:
        current = owner
        while True:
            node = await self._graphql_page(current, cursor)
            if node is None and current.node_id is None:
                # Looked up by login, which is gone: renamed? Ask by the account's id.
                renamed = await self.account_by_id(owner.id)
                node = await self._graphql_page(renamed, cursor) if renamed else None
            if node is None:
                raise GitHubError(f"GitHub has no account with id {owner.id} any more")
            current = Account(node.databaseId, node.login, node.name, owner.node_id, node.kind)
            info = node.repositories.pageInfo
            cursor = info.endCursor if info.hasNextPage else None
            repos = [
                RepoCounts(
                    id=repo.databaseId,
                    full_name=repo.nameWithOwner,
                    stargazers=repo.stargazerCount,
                    forks=repo.forkCount,
                    watchers=repo.watchers.totalCount,
                )
                for repo in node.repositories.nodes
            ]
            yield Page(current, repos, last=cursor is None, cursor=cursor)
            if cursor is None:
                return

    async def _graphql_page(self, owner: Account, after: str | None) -> _GraphQLOwner | None:
        if owner.node_id is not None:
            operation, variables = "ById", {"id": owner.node_id, "after": after}
        else:
            operation, variables = "ByLogin", {"login": owner.login, "after": after}
        data = await self._graphql(REPOSITORIES_QUERY, operation, variables, _OWNER_ANSWER)
        return data.owner if data else None

    async def _graphql(
        self,
        query: str,
        operation: str,
        variables: dict[str, Any],
        adapter: pydantic.TypeAdapter[_GraphQLAnswer[D]],
    ) -> D | None:
        """One GraphQL query's data; None where a node it asked for is missing (GitHub's
        NOT_FOUND error beside a null)."""
        body = {"query": query, "operationName": operation, "variables": variables}
        for attempt in range(RETRIES + 1):
            response = await self._send("POST", "/graphql", json=body)
            _expect(response, 200)
            answer = _parse(adapter, response)
            if not any(_spent(error) for error in answer.errors):
                break
            # GraphQL's spent points come as a 200 with an error saying so.
            reset = _quota_reset(response.headers, self._clock.now())
            self._note(reset or Limit(SECONDARY_WAIT_SECONDS, "quota", False), attempt)
        missing = all(error.type == "NOT_FOUND" for error in answer.errors)
        if answer.errors and not missing:
            raise GitHubError(f"GitHub GraphQL errors: {[e.message for e in answer.errors]}")
        return answer.data

    async def _rest_pages(self, owner: Account, stored: Stored) -> AsyncGenerator[Page, None]:
        current = owner
        listing = await self._list_page(_list_url(current), 1, stored)
        if listing is None:  # the login is gone: renamed? Ask by the account's id.
            renamed = await self.account_by_id(owner.id)
            if renamed is None:
                raise GitHubError(f"GitHub has no account with id {owner.id} any more")
            current = replace(renamed, node_id=renamed.node_id or owner.node_id)
            listing = await self._list_page(_list_url(current), 1, stored)
            if listing is None:
                raise GitHubError(f"GitHub lists no repositories for {current.login}")
        while True:
            todo = [item for item in listing.items if item.id not in stored.done]
            results = await asyncio.gather(
                *(self._rest_repo(item, stored.repos.get(item.id)) for item in todo),
                return_exceptions=True,
            )
            read = [result for result in results if isinstance(result, RepoCounts)]
            failure = _worst([r for r in results if isinstance(r, BaseException)])
            last = listing.next_url is None and failure is None
            yield Page(current, read, last=last, listing=listing)
            if failure is not None:
                raise failure
            if listing.next_url is None:
                return
            following = await self._list_page(listing.next_url, listing.number + 1, stored)
            if following is None:
                raise GitHubError(f"GitHub's next list page vanished: {listing.next_url}")
            listing = following

    async def _list_page(self, url: str, number: int, stored: Stored) -> ListPage | None:
        """A list page, or the stored one when GitHub says it is unchanged; None on 404."""
        known = stored.listings.get(number)
        known = known if known is not None and known.url == url else None
        headers = {"If-None-Match": known.etag} if known and known.etag else {}
        response = await self._get(url, headers)
        if response.status_code == 304 and known is not None:
            return known
        if response.status_code == 404:
            return None
        _expect(response, 200)
        items = _parse(_LISTED, response)
        following = response.links.get("next", {}).get("url")
        return ListPage(
            number=number,
            url=url,
            etag=response.headers.get("etag"),
            next_url=self._within_github(following) if following else None,
            items=tuple(
                Listed(i.id, i.full_name, i.stargazers_count, i.forks_count) for i in items
            ),
        )

    async def _rest_repo(self, item: Listed, stored: RepoCounts | None) -> RepoCounts:
        headers = {"If-None-Match": stored.etag} if stored and stored.etag else {}
        response = await self._get(f"/repos/{item.full_name}", headers)
        if response.status_code == 304 and stored is not None:
            return replace(stored, full_name=item.full_name)
        if response.status_code == 404:  # gone since the list: what the list said, no more
            return RepoCounts(item.id, item.full_name, item.stargazers, item.forks, None)
        _expect(response, 200)
        repo = _parse(_REPO, response)
        return RepoCounts(
            id=repo.id,
            full_name=repo.full_name,
            stargazers=repo.stargazers_count,
            forks=repo.forks_count,
            watchers=repo.subscribers_count,
            etag=response.headers.get("etag"),
        )

    # --- History: every stargazer and fork, with its time --------------------------------

    @staticmethod
    def first_history_url(full_name: str, metric: Metric) -> str:
        if metric == "stars":
            return f"/repos/{full_name}/stargazers?per_page={PAGE_SIZE}"
        return f"/repos/{full_name}/forks?sort=oldest&per_page={PAGE_SIZE}"

    @staticmethod
    def pages_after(url: str, count: int) -> list[str]:
        """The addresses of the `count` list pages after this one (REST's pages are
        numbered, so they can be asked for at once, then counted in order)."""
        urls, current = [], httpx.URL(url)
        for _ in range(count):
            current = _page_after(current)
            urls.append(str(current))
        return urls

    async def history_page(self, url: str, metric: Metric) -> HistoryPage:
        """A page of stargazers (asked with GitHub's star media type, which adds
        `starred_at`) or forks (`created_at`), oldest first. Past GitHub's cap (about 400
        pages of 100) the list answers 422: `capped`."""
        headers = {"Accept": STAR_MEDIA_TYPE} if metric == "stars" else None
        response = await self._get(url, headers)
        if response.status_code == 422 and _PAGINATION_CAP.search(response.text):
            return HistoryPage((), None, capped=True)
        if response.status_code == 404:
            return HistoryPage((), None, gone=True)
        _expect(response, 200)
        if metric == "stars":
            moments = tuple(star.starred_at for star in _parse(_STARS, response))
        else:
            moments = tuple(fork.created_at for fork in _parse(_FORKS, response) if fork.created_at)
        following = response.links.get("next", {}).get("url")
        if following is None and len(moments) == PAGE_SIZE:
            # A full last page: the end, or GitHub's cap (its `Link` stops at the last page
            # it serves, 400). The page after it tells which: empty, or the 422.
            following = str(_page_after(response.request.url))
        return HistoryPage(moments, self._within_github(following) if following else None)

    async def newest_history_page(
        self, full_name: str, metric: Metric, cursor: str | None
    ) -> NewestPage:
        """A page of stargazers or forks, newest first, from `cursor` (None: the newest);
        needs a token, as GraphQL does."""
        owner, _, name = full_name.partition("/")
        variables = {"owner": owner, "name": name, "after": cursor, "stars": metric == "stars"}
        data = await self._graphql(NEWEST_QUERY, "Newest", variables, _NEWEST_ANSWER)
        listed = None
        if data is not None and data.repository is not None:
            listed = data.repository.stars if metric == "stars" else data.repository.forks
        if listed is None:
            return NewestPage((), 0, None, gone=True)
        following = listed.pageInfo.endCursor if listed.pageInfo.hasNextPage else None
        moments = tuple(edge.at for edge in listed.edges)
        return NewestPage(moments, listed.totalCount, following)


# --- What GitHub's answers must hold (only the fields we use; the rest is ignored) --------


class _Checked(pydantic.BaseModel):
    # Strict: a count that is a string, or an id that is a float, is not a count or an id.
    model_config = pydantic.ConfigDict(extra="ignore", strict=True, frozen=True)


class _UserPayload(_Checked):
    id: int
    login: str
    name: str | None = None
    node_id: str | None = None  # older GitHub Enterprise leaves it out
    type: str = "User"  # or "Organization" (or "Bot", listed like a user)

    @property
    def kind(self) -> Kind:
        return kind_of(self.type)


class _ListedPayload(_Checked):
    id: int
    full_name: str
    stargazers_count: int
    forks_count: int


class _RepoPayload(_ListedPayload):
    subscribers_count: int


class _TotalCount(_Checked):
    totalCount: int  # noqa: N815 (GraphQL's names)


class _GraphQLRepo(_Checked):
    databaseId: int  # noqa: N815
    nameWithOwner: str  # noqa: N815
    stargazerCount: int  # noqa: N815
    forkCount: int  # noqa: N815
    watchers: _TotalCount


class _PageInfo(_Checked):
    hasNextPage: bool  # noqa: N815
    endCursor: str | None  # noqa: N815


class _Repositories(_Checked):
    pageInfo: _PageInfo  # noqa: N815
    nodes: list[_GraphQLRepo]


class _GraphQLOwner(_Checked):
    kind: Kind = pydantic.Field(validation_alias="__typename")
    databaseId: int  # noqa: N815
    login: str
    name: str | None
    repositories: _Repositories


class _OwnerData(_Checked):
    owner: _GraphQLOwner | None


class _Moment(_Checked):
    at: datetime = pydantic.Field(strict=False)  # an ISO 8601 string


class _NewestList(_Checked):
    totalCount: int  # noqa: N815
    pageInfo: _PageInfo  # noqa: N815
    edges: list[_Moment]


class _NewestRepository(_Checked):
    stars: _NewestList | None = None
    forks: _NewestList | None = None


class _NewestData(_Checked):
    repository: _NewestRepository | None


class _GraphQLError(_Checked):
    message: str
    type: str | None = None


D = TypeVar("D", bound=_Checked)


class _GraphQLAnswer(_Checked, Generic[D]):
    data: D | None = None
    errors: list[_GraphQLError] = []


class _StarPayload(_Checked):
    starred_at: datetime = pydantic.Field(strict=False)  # an ISO 8601 string


class _ForkPayload(_Checked):
    created_at: datetime | None = pydantic.Field(strict=False)


_USER = pydantic.TypeAdapter(_UserPayload)
_STARS = pydantic.TypeAdapter(list[_StarPayload])
_FORKS = pydantic.TypeAdapter(list[_ForkPayload])
_LISTED = pydantic.TypeAdapter(list[_ListedPayload])
_REPO = pydantic.TypeAdapter(_RepoPayload)
_OWNER_ANSWER = pydantic.TypeAdapter(_GraphQLAnswer[_OwnerData])
_NEWEST_ANSWER = pydantic.TypeAdapter(_GraphQLAnswer[_NewestData])

T = TypeVar("T")


def _parse(adapter: pydantic.TypeAdapter[T], response: httpx.Response) -> T:
    """The answer's JSON as `adapter` reads it, or a GitHubError naming what was wrong."""
    try:
        return adapter.validate_json(response.content)
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'the body'}: {e['msg']}"
            for e in error.errors()[:3]
        )
        raise GitHubError(
            f"GitHub's answer to {response.request.method} {response.request.url.path} "
            f"is not what its API documents ({problems})"
        ) from error


def _worst(failures: list[BaseException]) -> BaseException | None:
    """The failure that decides a page's fate: a cancellation or a bug before a rate limit
    (which defers the account), a rate limit before an error (which fails it)."""
    if not failures:
        return None
    unexpected = [f for f in failures if not isinstance(f, GitHubError)]
    limited = [f for f in failures if isinstance(f, RateLimited)]
    return (unexpected or limited or failures)[0]


def _page_after(url: httpx.URL) -> httpx.URL:
    page = url.params.get("page", "1")
    return url.copy_set_param("page", str(int(page) + 1 if _DIGITS.match(page) else 2))


def _list_url(account: Account) -> str:
    query = f"per_page={PAGE_SIZE}&sort=full_name"
    if account.kind == "Organization":
        return f"/orgs/{account.login}/repos?type=public&{query}"
    return f"/users/{account.login}/repos?type=owner&{query}"


def pace_limiter(per_minute: float) -> AsyncLimiter:
    # A leaky bucket holding one second's worth: a bucket of a minute's worth would let a
    # full burst and then a minute's flow through in the first minute (twice the
    # ceiling); this way no minute sees more than per_minute plus one second's share.
    burst = max(1.0, per_minute / 60)
    return AsyncLimiter(burst, burst * 60 / per_minute)


def _outcome(response: httpx.Response, limit: Limit | None) -> str:
    status = response.status_code
    if status == 200 and _graphql_spent(response):
        return "rate_limited"
    if status < 300:
        return "ok"
    if status == 304:
        return "not_modified"
    if status in REDIRECTS:
        return "redirected"
    if status == 404:
        return "not_found"
    if limit is not None:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return "other"


def _unreachable(base_url: httpx.URL, error: httpx.TransportError) -> str:
    """What went wrong, in words (httpx's own are a class name and a repr)."""
    if isinstance(error, httpx.TimeoutException):
        why = "it did not answer in time"
    elif isinstance(error, httpx.ConnectError):
        why = "the connection was refused or the host is unknown"
    else:
        why = "the connection broke"
    return f"GitHub ({base_url}) cannot be reached: {why}, {RETRIES + 1} tries"


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise GitHubError(
            f"GitHub answered {response.status_code} for {response.request.method} "
            f"{response.request.url.path}: {response.text[:200]}"
        )


_DIGITS = re.compile(r"^\d+$")
# GitHub's 422 past a list's last allowed page ("In order to keep the API fast for
# everyone, pagination is limited for this resource. ...").
_PAGINATION_CAP = re.compile(r"pagination is limited", re.IGNORECASE)
STAR_MEDIA_TYPE = "application/vnd.github.star+json"
# What GitHub's secondary-limit answers say when they carry no header to go by.
_SECONDARY_WORDS = re.compile(r"secondary rate limit|abuse detection", re.IGNORECASE)
_SPENT_WORDS = re.compile(r"rate limit (already )?exceeded", re.IGNORECASE)


def _too_long(wait: float) -> bool:
    """Longer than a run waits. A microsecond of slack: a pause is stored as a moment, and
    (now + 60) - now is 60.000000000007 when now + 60 crosses a power of two (a worker up
    for 2 h 16 min: 8,192 s on the monotonic clock), which would defer a one-minute wait."""
    return wait > LONGEST_WAIT_SECONDS + 1e-6


def _limit(response: httpx.Response, now: datetime) -> Limit | None:
    """The rate limit a 403 or 429 reports, or None (a plain 403 is forbidden, not limited;
    a 200 with nothing remaining is the last request the hour allowed)."""
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    retry_after = headers.get("retry-after", "")
    if _DIGITS.match(retry_after):
        return Limit(float(retry_after), "secondary", hinted=True)
    if headers.get("x-ratelimit-remaining") == "0":
        return _quota_reset(headers, now) or Limit(SECONDARY_WAIT_SECONDS, "quota", False)
    if response.status_code == 429 or _SECONDARY_WORDS.search(response.text):
        return Limit(SECONDARY_WAIT_SECONDS, "secondary", hinted=False)
    return None


def _graphql_spent(response: httpx.Response) -> bool:
    """A GraphQL answer saying its points are spent (read without parsing every answer)."""
    return (
        response.request.url.path.endswith("/graphql")
        and response.headers.get("x-ratelimit-remaining") == "0"
        and _SPENT_WORDS.search(response.text) is not None
    )


def _spent(error: _GraphQLError) -> bool:
    """GraphQL's "points spent": typed RATE_LIMITED at first, then, once the hour is spent,
    "API rate limit already exceeded for user ID ..." with no type."""
    return error.type == "RATE_LIMITED" or bool(_SPENT_WORDS.search(error.message))


def _quota_reset(headers: httpx.Headers, now: datetime) -> Limit | None:
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") != "0" or not _DIGITS.match(reset):
        return None
    return Limit(max(1.0, int(reset) - now.timestamp()), "quota", hinted=True)
