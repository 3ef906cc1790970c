"""A local fake of GitHub's API: a real HTTP server on 127.0.0.1 that answers like GitHub.

Kept honest by GitHub's own published descriptions (pinned npm packages, installed by the
test set-up): every GraphQL document a client sends is validated against GitHub's schema
and then executed by graphql-core over the fake's data, so the answer has exactly the shape
that was asked for; every REST payload starts from the example GitHub's OpenAPI description
gives for that route and is validated against its schema before it is sent.

Users and organizations, repositories, `Link` pagination in GitHub's own form (absolute
URLs naming `/user/{id}/repos?...&page=N`), ETag/304 on every GET, rate-limit headers and
quota (a 304 is free only for an authorized request; a spent hour is a 403 for REST and a
200 with a RATE_LIMITED error for GraphQL), 301 for a renamed repository, a listed
repository whose details answer 404, user payloads without `node_id` (older GitHub
Enterprise), secondary limits with or without a hint, 5xx on demand, and latency, all
counted at the server. What it says in each case follows the recordings of the real API in
`recordings.json` (see `test_replayed_github.py`).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import math
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import graphql
import uvicorn
from openapi_schema_validator import OAS30Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DESCRIPTIONS = Path(__file__).parent / "github-descriptions"
MODULES = DESCRIPTIONS / "node_modules" / "@octokit"
HOURLY_QUOTA = 5000


def install_descriptions() -> None:
    """`npm ci` from the pinned lock file, when node_modules is missing or older than it."""
    stamp = DESCRIPTIONS / "node_modules" / ".package-lock.json"
    lock = DESCRIPTIONS / "package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", str(DESCRIPTIONS)],
        check=True,
        capture_output=True,
    )


@cache
def graphql_schema() -> graphql.GraphQLSchema:
    introspection = json.loads((MODULES / "graphql-schema" / "schema.json").read_text())
    # GitHub's schema breaks a newer rule of the spec (deprecated fields implementing
    # non-deprecated interface fields) that graphql-core enforces on the schema itself;
    # documents are still validated against it in full.
    return graphql.build_client_schema(introspection, assume_valid=True)


@cache
def openapi() -> dict[str, Any]:
    path = MODULES / "openapi" / "generated" / "api.github.com.deref.json"
    description: dict[str, Any] = json.loads(path.read_text())
    return description


def _documented(path: str) -> tuple[dict[str, Any], OAS30Validator]:
    """GitHub's example answer for GET `path` and a validator of its schema."""
    content = openapi()["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    example = next(iter(content["examples"].values()))["value"]
    return example, OAS30Validator(content["schema"])


STAR_MEDIA_TYPE = "application/vnd.github.star+json"
# Where the default history of a fake repository begins.
HISTORY_BEGINS = datetime(2020, 1, 1, 9, 30, tzinfo=UTC)
# GitHub's answer for a page past a list's cap.
PAGINATION_CAP_ANSWER = {
    "message": "In order to keep the API fast for everyone, pagination is limited for this "
    "resource. Check the rel=last link relation in the Link response header to see how far "
    "back you can traverse.",
    "documentation_url": "https://docs.github.com/v3/#pagination",
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# What GitHub says when a secondary limit comes without Retry-After (and with quota left).
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "DEEE:4E297:23C6134F:24AB7C8A:6778605C."
)


@dataclass
class FakeRepo:
    id: int
    name: str
    stars: int
    forks: int
    watchers: int
    fork: bool = False
    # Names it had before a rename: GET /repos/{owner}/{old} answers 301.
    previous_names: list[str] = field(default_factory=list)
    # Listed, but its details answer 404 (deleted or made private since the list).
    hidden: bool = False
    # The name list pages still show (renamed between the list and the details).
    listed_as: str | None = None
    # When each of today's stargazers starred and each fork was made, oldest first
    # (`FakeGitHub.give_history`; by default one every 37 hours from 2020 on).
    star_times: list[datetime] = field(default_factory=list)
    fork_times: list[datetime] = field(default_factory=list)


@dataclass
class FakeUser:
    id: int
    login: str
    name: str | None
    repos: list[FakeRepo] = field(default_factory=list)
    kind: str = "User"  # or "Organization"
    has_node_id: bool = True  # older GitHub Enterprise gives none

    @property
    def node_id(self) -> str:
        return f"{'O' if self.kind == 'Organization' else 'U'}_{self.id}"


@dataclass
class Failure:
    path_part: str
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON; None: a message naming the failure


class FakeGitHub:
    def __init__(self) -> None:
        self.users: dict[int, FakeUser] = {}
        self.latency = 0.0
        self.quota = HOURLY_QUOTA
        self.remaining = HOURLY_QUOTA
        self.reset_at = int(time.time()) + 3600
        self.failures: list[Failure] = []
        self.requests = 0
        self.paths: list[str] = []  # of every request, in order
        self.quota_spent = 0
        self.not_modified = 0
        self.graphql_requests: list[tuple[str, dict[str, Any]]] = []  # (document, variables)
        self.graphql_spent_answers = 0
        self.violations: list[str] = []
        # Tests check every payload; a benchmark may check each route's first one only.
        self.validate_every_payload = True
        # GitHub serves a list's first 400 pages at most (then a 422); tests lower it.
        self.page_cap = 400
        self._validated_routes: set[str] = set()
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- Data ---------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        login: str,
        repos: int = 3,
        name: str | None = None,
        kind: str = "User",
        has_node_id: bool = True,
    ) -> FakeUser:
        user = FakeUser(user_id, login, name or login.title(), kind=kind, has_node_id=has_node_id)
        for n in range(repos):
            repo_id = user_id * 1000 + n  # GraphQL's databaseId is a 32-bit Int
            # Watchers differ from stars, as on GitHub (the REST list repeats the stars).
            repo = FakeRepo(repo_id, f"repo-{n:04d}", 10 + n, n % 7, 2 + n % 5)
            repo.star_times = [HISTORY_BEGINS + timedelta(hours=37 * i) for i in range(repo.stars)]
            repo.fork_times = [HISTORY_BEGINS + timedelta(hours=61 * i) for i in range(repo.forks)]
            user.repos.append(repo)
        self.users[user_id] = user
        return user

    @staticmethod
    def give_history(
        repo: FakeRepo, star_times: list[datetime], fork_times: list[datetime]
    ) -> None:
        """The repository's stargazers and forks, by when they came; the counts follow."""
        repo.star_times, repo.fork_times = sorted(star_times), sorted(fork_times)
        repo.stars, repo.forks = len(star_times), len(fork_times)

    def by_login(self, login: str) -> FakeUser | None:
        return next((u for u in self.users.values() if u.login.lower() == login.lower()), None)

    def fail(
        self,
        path_part: str,
        status: int,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.failures.append(Failure(path_part, status, times, headers or {}, body))

    def secondary_limit(self, path_part: str, times: int = 1) -> None:
        """GitHub's hint-less secondary limit: a 403 whose body alone says what it is."""
        body = {
            "message": SECONDARY_LIMIT_MESSAGE,
            "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
        }
        self.fail(path_part, 403, times, body)

    def new_window(self) -> None:
        """The hour turns: the quota is whole again, until the next reset."""
        self.remaining = self.quota
        self.reset_at += 3600

    def by_id(self, user_id: int) -> FakeUser | None:
        return self.users.get(user_id)

    def counters(self) -> tuple[int, int]:
        return self.requests, self.quota_spent

    # --- Serving ----------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        install_descriptions()
        graphql_schema()  # built before the first request, not during it
        app = Starlette(
            routes=[
                Route("/users/{login}", self._user),
                Route("/user/{account_id:int}", self._user_by_id),
                # GitHub lists an organization's repositories at /users/{login}/repos too.
                Route("/users/{login}/repos", self._repos_by_login),
                Route("/orgs/{login}/repos", self._repos_by_login),
                # Where GitHub's `Link` headers send the next pages.
                Route("/user/{account_id:int}/repos", self._repos_by_id),
                Route("/organizations/{account_id:int}/repos", self._repos_by_id),
                Route("/repos/{owner}/{repo}", self._repo),
                Route("/repositories/{repo_id:int}", self._repo_by_id),
                Route("/repos/{owner}/{repo}/stargazers", self._history),
                Route("/repos/{owner}/{repo}/forks", self._history),
                # Where their `Link` headers send the next pages.
                Route("/repositories/{repo_id:int}/stargazers", self._history),
                Route("/repositories/{repo_id:int}/forks", self._history),
                Route("/graphql", self._graphql, methods=["POST"]),
            ],
        )
        app.add_middleware(_Gate, fake=self)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake GitHub did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
        if self._thread:
            self._thread.join(10)

    def _headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.quota),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_at),
            "x-ratelimit-used": str(self.quota - self.remaining),
            "x-ratelimit-resource": "core",
        }

    def _json(self, request: Request, payload: Any, validator: OAS30Validator | None) -> Response:
        route = request.scope.get("route")
        route_path = route.path if route is not None else request.url.path
        if validator is not None and (
            self.validate_every_payload or route_path not in self._validated_routes
        ):
            self._validated_routes.add(route_path)
            errors = [e.message for e in validator.iter_errors(payload)]
            if errors:
                self.violations.append(f"{request.url.path}: {errors[:3]}")
                return JSONResponse({"message": "fake GitHub broke its schema"}, 500)
        body = json.dumps(payload).encode()
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'  # noqa: S324 (an ETag, not security)
        headers = {**self._headers(), "etag": etag}
        if request.headers.get("if-none-match") == etag:
            self.not_modified += 1
            if "authorization" in request.headers:
                self.quota_spent -= 1  # GitHub counts a 304 as free for authorized requests
                self.remaining += 1
                headers = {**self._headers(), "etag": etag}
            return Response(status_code=304, headers=headers)
        return Response(body, headers=headers, media_type="application/json")

    def _not_found(self) -> Response:
        return JSONResponse(
            {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
            404,
            headers=self._headers(),
        )

    def _user_payload(self, user: FakeUser) -> dict[str, Any]:
        example, _ = _documented("/users/{username}")
        payload = copy.deepcopy(example)
        payload.update(
            id=user.id,
            login=user.login,
            name=user.name,
            node_id=user.node_id,
            type=user.kind,
            public_repos=len(user.repos),
        )
        if not user.has_node_id:
            del payload["node_id"]
        return payload

    def _account_answer(self, request: Request, user: FakeUser | None, route: str) -> Response:
        if user is None:
            return self._not_found()
        # Older GitHub Enterprise's payloads predate today's schema (no node_id).
        validator = _documented(route)[1] if user.has_node_id else None
        return self._json(request, self._user_payload(user), validator)

    async def _user(self, request: Request) -> Response:
        user = self.by_login(request.path_params["login"])
        return self._account_answer(request, user, "/users/{username}")

    async def _user_by_id(self, request: Request) -> Response:
        user = self.by_id(request.path_params["account_id"])
        return self._account_answer(request, user, "/user/{account_id}")

    def _repo_payload(self, user: FakeUser, repo: FakeRepo, path: str) -> dict[str, Any]:
        example: Any = _documented(path)[0]
        listed = isinstance(example, list)
        payload: dict[str, Any] = copy.deepcopy(example[0] if listed else example)
        name = (repo.listed_as or repo.name) if listed else repo.name
        payload.update(
            id=repo.id,
            node_id=f"R_{repo.id}",
            name=name,
            full_name=f"{user.login}/{name}",
            fork=repo.fork,
            stargazers_count=repo.stars,
            forks_count=repo.forks,
            # The list's `watchers_count` repeats the stars, as GitHub's does.
            watchers_count=repo.stars,
        )
        payload["owner"] = {**payload["owner"], "login": user.login, "id": user.id}
        # GitHub's example for one repository lacks `language`, which its schema requires
        # (nullable), and so do its parent and source; forks here have no upstream.
        payload.setdefault("language", "Python")
        for upstream in ("parent", "source", "template_repository"):
            payload.pop(upstream, None)
        if "subscribers_count" in payload:
            payload["subscribers_count"] = repo.watchers
        return payload

    async def _repos_by_login(self, request: Request) -> Response:
        return self._repos(request, self.by_login(request.path_params["login"]))

    async def _repos_by_id(self, request: Request) -> Response:
        return self._repos(request, self.by_id(request.path_params["account_id"]))

    def _repos(self, request: Request, user: FakeUser | None) -> Response:
        if user is None:
            return self._not_found()
        organization = user.kind == "Organization"
        route = "/orgs/{org}/repos" if organization else "/users/{username}/repos"
        query = request.query_params
        per_page = min(100, int(query.get("per_page", 30)))
        page = int(query.get("page", 1))
        # The default order: by name for a user's list, by creation for an organization's
        # (here, by id); `sort=full_name` asks for names in both.
        by_name = query.get("sort", "created" if organization else "full_name") == "full_name"
        repos = sorted(user.repos, key=(lambda r: r.name) if by_name else (lambda r: r.id))
        pages = max(1, math.ceil(len(repos) / per_page))
        chunk = repos[(page - 1) * per_page : page * per_page]
        payload = [self._repo_payload(user, r, route) for r in chunk]
        response = self._json(request, payload, _documented(route)[1])
        # GitHub's own form: absolute, by the account's id, the query as asked plus the page.
        kept = "&".join(f"{k}={v}" for k, v in query.multi_items() if k != "page")
        owner = "organizations" if organization else "user"
        base = f"{self.url}/{owner}/{user.id}/repos?{kept}{'&' if kept else ''}page="
        links = []
        if page > 1:
            links += [f'<{base}{page - 1}>; rel="prev"']
        if page < pages:
            links += [f'<{base}{page + 1}>; rel="next"', f'<{base}{pages}>; rel="last"']
        if page > 1:
            links += [f'<{base}1>; rel="first"']
        if links:
            response.headers["link"] = ", ".join(links)
        return response

    def _owner_and_repo(self, repo_id: int) -> tuple[FakeUser, FakeRepo] | None:
        for user in self.users.values():
            for repo in user.repos:
                if repo.id == repo_id:
                    return user, repo
        return None

    async def _repo(self, request: Request) -> Response:
        user = self.by_login(request.path_params["owner"])
        name = request.path_params["repo"]
        repo = next((r for r in user.repos if r.name == name), None) if user else None
        if user is not None and repo is None:
            renamed = next((r for r in user.repos if name in r.previous_names), None)
            if renamed is not None:
                return self._moved(renamed)
        if user is None or repo is None or repo.hidden:
            return self._not_found()
        payload = self._repo_payload(user, repo, "/repos/{owner}/{repo}")
        return self._json(request, payload, _documented("/repos/{owner}/{repo}")[1])

    def _moved(self, repo: FakeRepo) -> Response:
        """What GitHub answers for a renamed or transferred repository's old name."""
        location = f"{self.url}/repositories/{repo.id}"
        body = {
            "message": "Moved Permanently",
            "url": location,
            "documentation_url": "https://docs.github.com/v3/#http-redirects",
        }
        return JSONResponse(body, 301, headers={**self._headers(), "location": location})

    async def _repo_by_id(self, request: Request) -> Response:
        found = self._owner_and_repo(request.path_params["repo_id"])
        if found is None or found[1].hidden:
            return self._not_found()
        payload = self._repo_payload(*found, "/repos/{owner}/{repo}")
        # Not in GitHub's description, but the same repository object as /repos/{o}/{r}.
        return self._json(request, payload, _documented("/repos/{owner}/{repo}")[1])

    async def _history(self, request: Request) -> Response:
        """A repository's stargazers (with `starred_at` under GitHub's star media type) or
        forks (`sort=oldest` or `newest`), paged like GitHub's lists and cut off past the
        page cap with GitHub's own 422."""
        if "repo_id" in request.path_params:
            found = self._owner_and_repo(request.path_params["repo_id"])
        else:
            user = self.by_login(request.path_params["owner"])
            name = request.path_params["repo"]
            repo = next((r for r in user.repos if r.name == name), None) if user else None
            found = (user, repo) if user and repo else None
        if found is None or found[1].hidden:
            return self._not_found()
        user, repo = found
        stars = request.url.path.endswith("/stargazers")
        query = request.query_params
        per_page = min(100, int(query.get("per_page", 30)))
        page = int(query.get("page", 1))
        if page > self.page_cap:
            return JSONResponse(PAGINATION_CAP_ANSWER, 422, headers=self._headers())
        moments = repo.star_times if stars else repo.fork_times
        if not stars and query.get("sort", "newest") == "newest":
            moments = moments[::-1]
        chunk = moments[(page - 1) * per_page : page * per_page]
        route = "/repos/{owner}/{repo}/" + ("stargazers" if stars else "forks")
        content = openapi()["paths"][route]["get"]["responses"]["200"]["content"]
        validator = OAS30Validator(content["application/json"]["schema"])
        examples = content["application/json"]["examples"]
        if stars and request.headers.get("accept") == STAR_MEDIA_TYPE:
            example = examples["alternative-response-with-star-creation-timestamps"]["value"][0]
            payload = [{**copy.deepcopy(example), "starred_at": _iso(moment)} for moment in chunk]
        elif stars:
            example = examples["default-response"]["value"][0]
            payload = [copy.deepcopy(example) for _ in chunk]
        else:
            example = examples["default"]["value"][0]
            payload = [
                {
                    **copy.deepcopy(example),
                    "id": repo.id * 100_000 + n,
                    "full_name": f"someone-{n}/{repo.name}",
                    "created_at": _iso(moment),
                }
                for n, moment in enumerate(chunk, start=(page - 1) * per_page)
            ]
        response = self._json(request, payload, validator)
        pages = max(1, math.ceil(len(moments) / per_page))
        last = min(pages, self.page_cap)
        kept = "&".join(f"{k}={v}" for k, v in query.multi_items() if k != "page")
        kind = "stargazers" if stars else "forks"
        base = f"{self.url}/repositories/{repo.id}/{kind}?{kept}{'&' if kept else ''}page="
        links = []
        if page > 1:
            links += [f'<{base}{page - 1}>; rel="prev"', f'<{base}1>; rel="first"']
        if page < last:
            links += [f'<{base}{page + 1}>; rel="next"', f'<{base}{last}>; rel="last"']
        if links:
            response.headers["link"] = ", ".join(links)
        return response

    async def _graphql(self, request: Request) -> Response:
        if "authorization" not in request.headers:
            return JSONResponse({"message": "This endpoint requires you to be authenticated."}, 401)
        body = await request.json()
        query, variables = body["query"], body.get("variables") or {}
        self.graphql_requests.append((query, variables))
        if request.scope.get("fake_quota_spent"):
            return self._graphql_spent()
        try:
            document = graphql.parse(query)
        except graphql.GraphQLError as error:
            self.violations.append(f"graphql: {error.message}")
            return JSONResponse({"errors": [{"message": error.message}]}, headers=self._headers())
        errors = graphql.validate(graphql_schema(), document)
        if errors:
            self.violations.extend(f"graphql: {e.message}" for e in errors)
            return JSONResponse(
                {"errors": [{"message": e.message} for e in errors]}, headers=self._headers()
            )
        result = graphql.execute(
            graphql_schema(),
            document,
            root_value=self._graphql_root(),
            variable_values=variables,
            operation_name=body.get("operationName"),
        )
        if asyncio.iscoroutine(result) or hasattr(result, "__await__"):
            result = await result
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [
                {"message": e.message, **dict((e.extensions or {}).items())} for e in result.errors
            ]
        return JSONResponse(payload, headers={**self._headers(), "x-ratelimit-resource": "graphql"})

    def _graphql_spent(self) -> Response:
        """GraphQL's spent hour: a 200 whose error says so (typed the first time)."""
        self.graphql_spent_answers += 1
        error: dict[str, Any] = {"message": "API rate limit already exceeded for user ID 1."}
        if self.graphql_spent_answers == 1:
            error = {"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}
        return JSONResponse(
            {"errors": [error]}, headers={**self._headers(), "x-ratelimit-resource": "graphql"}
        )

    def _graphql_root(self) -> dict[str, Any]:
        def user_node(user: FakeUser) -> dict[str, Any]:
            def repositories(
                _: Any, first: int, after: str | None = None, **__: Any
            ) -> dict[str, Any]:
                repos = sorted(user.repos, key=lambda r: r.name)
                start = int(after) if after else 0
                chunk = repos[start : start + first]
                end = start + len(chunk)
                return {
                    "pageInfo": {"hasNextPage": end < len(repos), "endCursor": str(end)},
                    "nodes": [
                        {
                            "databaseId": r.id,
                            "nameWithOwner": f"{user.login}/{r.name}",
                            "stargazerCount": r.stars,
                            "forkCount": r.forks,
                            "watchers": {"totalCount": r.watchers},
                        }
                        for r in chunk
                    ],
                }

            return {
                "__typename": user.kind,
                "databaseId": user.id,
                "login": user.login,
                "name": user.name,
                "repositories": repositories,
            }

        def node(_: Any, id: str) -> dict[str, Any] | None:
            user = next((u for u in self.users.values() if u.has_node_id and u.node_id == id), None)
            return user_node(user) if user else None

        def owner(kinds: tuple[str, ...]) -> Any:
            def resolve(_: Any, login: str) -> dict[str, Any] | None:
                found = self.by_login(login)
                return user_node(found) if found and found.kind in kinds else None

            return resolve

        def repository(_: Any, owner: str, name: str, **__: Any) -> dict[str, Any] | None:
            user = self.by_login(owner)
            repo = next((r for r in user.repos if r.name == name), None) if user else None
            if repo is None or repo.hidden:  # as GitHub says it: a typed error beside a null
                message = f"Could not resolve to a Repository with the name '{owner}/{name}'."
                raise graphql.GraphQLError(message, extensions={"type": "NOT_FOUND"})
            return {
                "__typename": "Repository",
                "stargazers": history(repo.star_times, "starredAt"),
                "forks": history(repo.fork_times, "createdAt"),
            }

        def history(moments: list[datetime], key: str) -> Any:
            """A list by time either way, `first` at a time from `after` (GraphQL has no
            page cap); stargazers as edges with `starredAt`, forks as nodes."""

            def connection(
                _: Any, first: int, after: str | None = None, **arguments: Any
            ) -> dict[str, Any]:
                ordered = (
                    moments[::-1]
                    if (arguments.get("orderBy") or {}).get("direction") == "DESC"
                    else moments
                )
                start = int(after) if after else 0
                chunk = ordered[start : start + first]
                end = start + len(chunk)
                items = [{key: _iso(moment)} for moment in chunk]
                return {
                    "totalCount": len(moments),
                    "pageInfo": {"hasNextPage": end < len(moments), "endCursor": str(end)},
                    "edges": items,
                    "nodes": items,
                }

            return connection

        return {
            "node": node,
            "user": owner(("User",)),
            "organization": owner(("Organization",)),
            "repositoryOwner": owner(("User", "Organization")),
            "repository": repository,
        }


class _Gate:
    """Counts every request, spends quota, injects latency and failures, and answers 403
    once the hour's quota is spent (REST), with GitHub's headers and words."""

    def __init__(self, app: Any, fake: FakeGitHub) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        fake = self.fake
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if fake.latency:
            await asyncio.sleep(fake.latency)
        with fake._lock:
            fake.requests += 1
            fake.paths.append(scope["path"])
            failure = next((f for f in fake.failures if f.path_part in scope["path"]), None)
            if failure:
                failure.times -= 1
                if failure.times <= 0:
                    fake.failures.remove(failure)
            limited = fake.remaining <= 0
            if limited and scope["path"] == "/graphql" and not failure:
                limited = False  # GraphQL says so in a 200 (`_graphql_spent`)
                scope["fake_quota_spent"] = True
            elif not limited and not failure:
                fake.remaining -= 1
                fake.quota_spent += 1
        if limited:
            response: Response = JSONResponse(
                {
                    "message": "API rate limit exceeded for 127.0.0.1. (But here's the good "
                    "news: Authenticated requests get a higher rate limit. Check out the "
                    "documentation for more details.)",
                    "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
                },
                403,
                headers=fake._headers(),
            )
        elif failure:
            response = JSONResponse(
                {"message": f"fake failure {failure.status}"}
                if failure.body is None
                else failure.body,
                failure.status,
                headers={**fake._headers(), **failure.headers},
            )
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)
