"""The scanner against exchanges recorded from the real api.github.com (`recordings.json`):
what we test against is not only what we wrote. Each test scripts which recorded answer a
request gets; statuses, headers and bodies are GitHub's own."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from imagehub.core import migrate
from imagehub.core.config import Settings
from imagehub.repostats.github import Account, GitHub, GitHubError, Listed, Page, Stored
from imagehub.repostats.models import GithubUser
from imagehub.repostats.scan import run_scan
from tests.conftest import connected, make_settings
from tests.repostats.helpers import TOKEN, FakeClock, stats_rows
from tests.repostats.replay import Answer, Replay, ReplayServer, records

JACQUEV6 = Account(327146, "jacquev6", "Vincent Jacques", "MDQ6VXNlcjMyNzE0Ng==", "User")


@pytest.fixture
def replay() -> Iterator[Replay]:
    server = ReplayServer()
    yield server.start()
    server.stop()


def settings_for(tmp_path: Path, replay: Replay, token: str | None = TOKEN) -> Settings:
    return make_settings(
        tmp_path, github_api_url=replay.url, github_token=token, github_mode="rest"
    )


def body_of(record: str) -> object:
    return copy.deepcopy(records()[record]["body"])


async def all_pages(client: GitHub, owner: Account, stored: Stored) -> list[Page]:
    return [page async for page in client.pages(owner, stored)]


async def test_real_user_organization_and_missing_accounts(tmp_path: Path, replay: Replay) -> None:
    replay.answer("/users/jacquev6", "user_jacquev6")
    replay.answer("/users/PyGithub", "user_PyGithub")
    replay.answer("/users/ThisUserShouldReallyNotExist", "not_found_user")
    without_node_id = body_of("user_jacquev6")
    assert isinstance(without_node_id, dict)
    del without_node_id["node_id"]  # as older GitHub Enterprise answers
    replay.answer("/user/327146", Answer("rate_limit_last_200", body=without_node_id))
    async with GitHub(settings_for(tmp_path, replay)) as client:
        assert await client.account("jacquev6") == JACQUEV6
        organization = await client.account("PyGithub")
        assert organization is not None
        assert (organization.id, organization.kind) == (11288996, "Organization")
        assert await client.account("ThisUserShouldReallyNotExist") is None
        # The last request an hour allows: a 200 with nothing remaining is still an answer.
        older = await client.account_by_id(327146)
        assert older == Account(327146, "jacquev6", "Vincent Jacques", None, "User")


async def test_a_real_list_404s_a_redirect_and_304s(tmp_path: Path, replay: Replay) -> None:
    listed = records()["repos_jacquev6_owner"]["body"]
    names = [item["full_name"] for item in listed]
    replay.answer("/users/jacquev6/repos", "repos_jacquev6_owner")
    for name in names[1:]:  # details gone since the list (GitHub's recorded 404)
        replay.answer(f"/repos/{name}", "not_found_repo")
    # The first answers as a renamed repository does: octokit's recorded 301, then the
    # recorded 200 of /repositories/{id}, whose body octokit did not keep: PyGithub's real
    # repository payload stands in, given the listed repository's id and a new name.
    replay.answer(f"/repos/{names[0]}", "moved_permanently")
    renamed = body_of("repo_PyGithub_PyGithub")
    assert isinstance(renamed, dict)
    renamed.update(id=listed[0]["id"], full_name="jacquev6/DrawTurksHead-renamed")
    replay.answer("/repositories/515436299", Answer("repository_by_id", body=renamed))
    async with GitHub(settings_for(tmp_path, replay)) as client:
        (page,) = await all_pages(client, JACQUEV6, Stored())
    assert page.last
    assert page.listing is not None
    assert page.listing.etag == 'W/"225fda3e11dd88d655981156434638f6"'  # as recorded
    assert page.listing.items[1] == Listed(1986874, "jacquev6/vincent-jacques.net", 0, 0)
    by_id = {repo.id: repo for repo in page.repos}
    followed = by_id[767403]  # the same id, its new name, the details' counts
    counts = (followed.full_name, followed.stargazers, followed.forks, followed.watchers)
    assert counts == ("jacquev6/DrawTurksHead-renamed", 7701, 1874, 110)
    assert followed.etag == '"ecaea2c847b9a7f36601858ad0365ae068c6313df15a676babc9155ce005283a"'
    gone = by_id[4835930]  # IpMap: the list's counts, and no watcher figure
    assert (gone.full_name, gone.stargazers, gone.forks, gone.watchers) == (
        "jacquev6/IpMap",
        5,
        1,
        None,
    )
    assert len(page.repos) == 10

    # Tomorrow: the list page and the followed repository answer 304 (GitHub's recorded
    # 304), and what is stored stands for them; each request carried the stored ETag.
    replay.answer("/users/jacquev6/repos", "not_modified")
    replay.answer(f"/repos/{names[0]}", "not_modified")
    stored = Stored(listings={1: page.listing}, repos={followed.id: followed})
    sent = len(replay.requests)
    async with GitHub(settings_for(tmp_path, replay)) as client:
        (again,) = await all_pages(client, JACQUEV6, stored)
    assert again.listing == page.listing
    conditional = {path.split("?")[0]: h.get("if-none-match") for path, h in replay.requests[sent:]}
    assert conditional["/users/jacquev6/repos"] == page.listing.etag
    assert conditional[f"/repos/{names[0]}"] == followed.etag
    # The 304 vouches for the stored counts; the name is the one listed today.
    assert {repo.id: repo for repo in again.repos}[767403] == replace(
        followed, full_name="jacquev6/DrawTurksHead"
    )


async def test_real_limit_answers_are_waited_out_or_end_the_run(
    tmp_path: Path, replay: Replay
) -> None:
    clock = FakeClock()
    # 2013's spent hour (remaining 0, no reset given): a minute, then the answer.
    replay.answer("/users/jacquev6", "rate_limit_403", "user_jacquev6")
    # The abuse-detection 403 with Retry-After: 60.
    replay.answer("/users/PyGithub", "secondary_limit_403", "user_PyGithub")
    # A 502, retried.
    replay.answer("/repos/PyGithub/PyGithub", "bad_gateway", "repo_PyGithub_PyGithub")
    async with GitHub(settings_for(tmp_path, replay, token=None), clock=clock) as client:
        assert await client.account("jacquev6") == JACQUEV6
        assert clock.waits == [pytest.approx(60, abs=0.5)]
        assert (await client.account("PyGithub")) is not None
        assert clock.waits[-1] == pytest.approx(60, abs=0.5)
        listed = Listed(3544490, "PyGithub/PyGithub", 0, 0)
        repo = await client._rest_repo(listed, None)
        assert (repo.stargazers, repo.forks, repo.watchers) == (7701, 1874, 110)
    # Spent again and again: the run ends (RateLimited) instead of waiting on and on.
    replay.answer("/users/jacquev6", "rate_limit_403")
    async with GitHub(settings_for(tmp_path, replay, token=None), clock=clock) as client:
        with pytest.raises(GitHubError, match="rate limit"):
            await client.account("jacquev6")


async def test_a_real_link_header_is_followed_to_the_url_it_names(
    tmp_path: Path, replay: Replay
) -> None:
    """octokit's recorded pages name `/repositories/{id}/...?per_page=3&page=N`, absolute;
    their bodies were not kept: three of jacquev6's real repositories stand in."""
    listed = records()["repos_jacquev6_owner"]["body"]
    replay.answer("/users/jacquev6/repos", Answer("paginated_first", body=listed[:3]))
    middle = "/repositories/515435940/issues?per_page=3&page=2"
    replay.answer(middle, Answer("paginated_middle", body=listed[3:6]))
    for item in listed[:6]:
        replay.answer(f"/repos/{item['full_name']}", "not_found_repo")
    async with GitHub(settings_for(tmp_path, replay)) as client:
        pages = client.pages(JACQUEV6, Stored())
        first = await anext(pages)
        second = await anext(pages)
        with pytest.raises(GitHubError, match="next list page vanished"):
            await anext(pages)  # page 3 was not recorded: the replay answers 404
    assert first.listing is not None
    assert first.listing.next_url == f"{replay.url}{middle}"
    assert [r.id for r in first.repos + second.repos] == [item["id"] for item in listed[:6]]
    walked = [path for path, _ in replay.requests if "/repos?" in path or "issues" in path]
    assert walked[1:] == [middle, "/repositories/515435940/issues?per_page=3&page=3"]


def test_a_real_list_is_stored_with_no_made_up_watchers(tmp_path: Path, replay: Replay) -> None:
    """Through the scan as beat runs it, into the database."""
    settings = settings_for(tmp_path, replay)
    migrate.upgrade(settings.effective_database_url)
    with connected(settings.effective_database_url) as connection:
        connection.execute(
            sa.insert(GithubUser).values(id=JACQUEV6.id, login="jacquev6", name=None,
                                         node_id=JACQUEV6.node_id, kind="User")
        )  # fmt: skip
    listed = records()["repos_jacquev6_owner"]["body"]
    replay.answer("/users/jacquev6/repos", "repos_jacquev6_owner")
    for item in listed:
        replay.answer(f"/repos/{item['full_name']}", "not_found_repo")
    report = run_scan(settings, due_now=True)
    assert (report.scanned, report.repositories, report.failed) == (1, 10, [])
    today = datetime.now(UTC).date()
    assert stats_rows(settings) == sorted(
        (item["id"], today, item["stargazers_count"], item["forks_count"], None) for item in listed
    )
