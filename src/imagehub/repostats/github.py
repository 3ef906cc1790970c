"""GitHub's API, spent like money: every request counted, bounded and retried with care.

Two ways to read a user's repositories with stars, forks and watchers:
- GraphQL (needs a token): 100 repositories and their counts per request.
- REST: the repository list (100 a page, by its `Link` header) gives stars and forks, and
  one request per repository gives the real watcher count (`subscribers_count`); those are
  conditional (ETag), and GitHub answers an unchanged one with a 304 that costs an
  authorized client no quota.

Rate limits: `x-ratelimit-remaining` at 0 with a 403/429 ends the work with `RateLimited`
(the caller stores what is done; beat resumes after the reset, nobody sleeps for an hour);
a secondary limit's `retry-after` is waited out when short; 5xx and timeouts are retried with
exponential backoff. Requests in flight and per minute stay under configured ceilings.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiolimiter import AsyncLimiter

from imagehub.core.config import Settings
from imagehub.core.metrics import GITHUB_QUOTA, GITHUB_REQUESTS

log = logging.getLogger(__name__)

PAGE_SIZE = 100
RETRIES = 4  # after the first try, for 5xx and timeouts
BACKOFF_SECONDS = 0.5  # doubled on each retry
LONGEST_WAIT_SECONDS = 60  # a longer retry-after ends the run (RateLimited) instead

# One query per page of 100 repositories, by the user's global id: a renamed login is
# followed. Public repositories the user owns, forks included: the same set as REST's
# `/users/{login}/repos?type=owner`.
REPOSITORIES_QUERY = """
query Repositories($id: ID!, $after: String) {
  node(id: $id) {
    ... on User {
      databaseId
      login
      name
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
  }
}
"""


class GitHubError(Exception):
    """GitHub answered something we cannot use (after retries, where retrying made sense)."""


class RateLimited(GitHubError):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"GitHub's rate limit is spent until {until.isoformat()}")
        self.until = until


@dataclass(frozen=True)
class Account:
    id: int
    login: str
    name: str | None
    node_id: str


@dataclass
class RepoCounts:
    id: int
    full_name: str
    stargazers: int
    forks: int
    watchers: int
    etag: str | None = None


@dataclass
class Usage:
    """What a client has sent, and how much of it GitHub answered with a 304."""

    requests: int = 0
    not_modified: int = 0

    def record(self, response: httpx.Response) -> None:
        self.requests += 1
        self.not_modified += response.status_code == 304
        GITHUB_REQUESTS.labels(_outcome(response)).inc()
        remaining = response.headers.get("x-ratelimit-remaining", "")
        if _DIGITS.match(remaining):
            GITHUB_QUOTA.set(int(remaining))


# REST mode, per repository: the stored ETag and counts, so a 304 can stand for them.
Known = dict[int, RepoCounts]


class GitHub:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "imagehub-repostats",
        }
        if settings.github_token:
            headers["Authorization"] = f"Bearer {settings.github_token.get_secret_value()}"
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
        per_minute = (
            settings.github_graphql_per_minute
            if self.mode == "graphql"
            else settings.github_rest_per_minute
        )
        # A leaky bucket holding one second's worth: a bucket of a minute's worth would let a
        # full burst and then a minute's flow through in the first minute (twice the
        # ceiling); this way no minute sees more than per_minute plus one second's share.
        burst = max(1.0, per_minute / 60)
        self._pace = AsyncLimiter(burst, burst * 60 / per_minute)
        self.usage = Usage()
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def __aenter__(self) -> GitHub:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    # --- Requests ---------------------------------------------------------------------

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, paced and bounded; retried on 5xx, timeouts and short secondary
        limits; `RateLimited` when the quota is spent."""
        for attempt in range(RETRIES + 1):
            try:
                async with self._in_flight:
                    await self._pace.acquire()
                    response = await self._http.request(method, url, **kwargs)
            except httpx.TransportError as error:
                GITHUB_REQUESTS.labels("unreachable").inc()
                if attempt == RETRIES:
                    raise GitHubError(_unreachable(self._http.base_url, error)) from error
                await self._sleep(BACKOFF_SECONDS * 2**attempt)
                continue
            self.usage.record(response)
            if response.status_code in (403, 429):
                wait = _limit_wait(response)
                if wait is None:
                    return response  # a plain 403: forbidden, not limited
                if wait > LONGEST_WAIT_SECONDS or attempt == RETRIES:
                    raise RateLimited(datetime.now(UTC) + timedelta(seconds=wait))
                log.warning("GitHub secondary rate limit; waiting %.0f s", wait)
                await self._sleep(wait)
                continue
            if response.status_code >= 500:
                if attempt == RETRIES:
                    raise GitHubError(f"GitHub answered {response.status_code} for {url}")
                await self._sleep(BACKOFF_SECONDS * 2**attempt)
                continue
            return response
        raise AssertionError("unreachable")

    # --- Users --------------------------------------------------------------------------

    async def account(self, login: str) -> Account | None:
        """The account with this login, or None when GitHub has no such user."""
        response = await self._send("GET", f"/users/{login}")
        if response.status_code == 404:
            return None
        _expect(response, 200)
        return _account(response.json())

    async def account_by_id(self, account_id: int) -> Account | None:
        response = await self._send("GET", f"/user/{account_id}")
        if response.status_code == 404:
            return None
        _expect(response, 200)
        return _account(response.json())

    # --- Repositories ------------------------------------------------------------------

    async def repositories(self, user: Account, known: Known) -> tuple[Account, list[RepoCounts]]:
        """The user as GitHub has them now (login may have changed) and every public
        repository they own, with stars, forks and the real watcher count."""
        if self.mode == "graphql":
            return await self._graphql_repositories(user)
        return await self._rest_repositories(user, known)

    async def _graphql_repositories(self, user: Account) -> tuple[Account, list[RepoCounts]]:
        repos: list[RepoCounts] = []
        after: str | None = None
        current = user
        while True:
            response = await self._send(
                "POST",
                "/graphql",
                json={
                    "query": REPOSITORIES_QUERY,
                    "variables": {"id": user.node_id, "after": after},
                },
            )
            _expect(response, 200)
            payload = response.json()
            if payload.get("errors"):
                raise GitHubError(f"GitHub GraphQL errors: {payload['errors']}")
            node = (payload.get("data") or {}).get("node")
            if not node:
                raise GitHubError(f"GitHub has no user with id {user.id} any more")
            current = Account(node["databaseId"], node["login"], node.get("name"), user.node_id)
            connection = node["repositories"]
            repos.extend(
                RepoCounts(
                    id=repo["databaseId"],
                    full_name=repo["nameWithOwner"],
                    stargazers=repo["stargazerCount"],
                    forks=repo["forkCount"],
                    watchers=repo["watchers"]["totalCount"],
                )
                for repo in connection["nodes"]
            )
            if not connection["pageInfo"]["hasNextPage"]:
                return current, repos
            after = connection["pageInfo"]["endCursor"]

    async def _rest_repositories(
        self, user: Account, known: Known
    ) -> tuple[Account, list[RepoCounts]]:
        current = user
        listed = await self._rest_list(current.login)
        if listed is None:  # the login is gone: renamed? Ask by the account's id.
            renamed = await self.account_by_id(user.id)
            if renamed is None:
                raise GitHubError(f"GitHub has no user with id {user.id} any more")
            current = renamed
            listed = await self._rest_list(current.login)
            if listed is None:
                raise GitHubError(f"GitHub lists no repositories for {current.login}")
        repos = await asyncio.gather(
            *(self._rest_repo(item, known.get(item["id"])) for item in listed)
        )
        return current, list(repos)

    async def _rest_list(self, login: str) -> list[dict[str, Any]] | None:
        """Every page of the user's own public repositories, following `Link: rel=next`."""
        items: list[dict[str, Any]] = []
        url: str | None = f"/users/{login}/repos?type=owner&per_page={PAGE_SIZE}"
        while url:
            response = await self._send("GET", url)
            if response.status_code == 404:
                return None
            _expect(response, 200)
            items.extend(response.json())
            url = response.links.get("next", {}).get("url")
        return items

    async def _rest_repo(self, item: dict[str, Any], stored: RepoCounts | None) -> RepoCounts:
        headers = {"If-None-Match": stored.etag} if stored and stored.etag else {}
        response = await self._send("GET", f"/repos/{item['full_name']}", headers=headers)
        if response.status_code == 304 and stored is not None:
            return stored
        if response.status_code == 404:  # deleted between the list and now: list counts
            return RepoCounts(
                item["id"], item["full_name"], item["stargazers_count"], item["forks_count"], 0
            )
        _expect(response, 200)
        repo = response.json()
        return RepoCounts(
            id=repo["id"],
            full_name=repo["full_name"],
            stargazers=repo["stargazers_count"],
            forks=repo["forks_count"],
            watchers=repo["subscribers_count"],
            etag=response.headers.get("etag"),
        )


def _outcome(response: httpx.Response) -> str:
    status = response.status_code
    if status < 300:
        return "ok"
    if status == 304:
        return "not_modified"
    if status == 404:
        return "not_found"
    if status in (403, 429) and _limit_wait(response) is not None:
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


def _account(payload: dict[str, Any]) -> Account:
    return Account(payload["id"], payload["login"], payload.get("name"), payload["node_id"])


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise GitHubError(
            f"GitHub answered {response.status_code} for {response.request.method} "
            f"{response.request.url.path}: {response.text[:200]}"
        )


_DIGITS = re.compile(r"^\d+$")


def _limit_wait(response: httpx.Response) -> float | None:
    """Seconds until a rate limit lifts, or None when a 403 is no rate limit at all."""
    headers = response.headers
    retry_after = headers.get("retry-after", "")
    if _DIGITS.match(retry_after):
        return float(retry_after)
    if headers.get("x-ratelimit-remaining") == "0":
        reset = headers.get("x-ratelimit-reset", "")
        if _DIGITS.match(reset):
            return max(1.0, int(reset) - datetime.now(UTC).timestamp())
        return 60.0
    if response.status_code == 429:
        return 60.0  # a secondary limit without a hint: GitHub asks for at least a minute
    return None
