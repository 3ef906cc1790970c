"""Request-scoped dependencies shared by every domain's endpoints."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from imagehub.accounts.security import TokenCodec
from imagehub.config import Settings
from imagehub.db import async_session_scope
from imagehub.storage import Storage


@dataclass
class AppServices:
    """What the app builds once at start and every request may use."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    storage: Storage
    tokens: TokenCodec
    # Derived once: with RS256 it comes from a key file, and every signed link needs it.
    url_signing_key: bytes


# The dependencies below are `async def` although they never wait: FastAPI runs a plain
# `def` dependency in a worker thread, a hop that costs more than what they do.


async def get_services(request: Request) -> AppServices:
    services: AppServices = request.app.state.services
    return services


ServicesDep = Annotated[AppServices, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_storage(services: ServicesDep) -> Storage:
    return services.storage


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    # The request owns the transaction: commit when the endpoint returns, roll back when it
    # raises. scope="function" runs the commit before the response is sent, so a client
    # never sees success for a transaction that then failed to commit.
    async with async_session_scope(services.sessionmaker) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
