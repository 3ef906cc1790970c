"""Request-scoped dependencies every domain's endpoints share."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from imagehub.core.config import Settings
from imagehub.core.db import AsyncDatabase
from imagehub.core.storage import Storage
from imagehub.core.tokens import TokenCodec


@dataclass
class AppServices:
    """What the app builds once at start and every request may use."""

    settings: Settings
    database: AsyncDatabase
    storage: Storage
    tokens: TokenCodec
    # Derived once: with RS256 it comes from a key file, and every signed link needs it.
    url_signing_key: bytes

    @classmethod
    def build(cls, settings: Settings) -> "AppServices":
        return cls(
            settings=settings,
            database=AsyncDatabase(settings.effective_database_url),
            storage=Storage.from_settings(settings),
            tokens=TokenCodec(settings),
            url_signing_key=settings.url_signing_key(),
        )


# The dependencies below are `async def` although they never wait: FastAPI runs a plain
# `def` dependency in a worker thread, a hop that costs more than what they do.


async def get_services(request: Request) -> AppServices:
    services: AppServices = request.app.state.services
    return services


ServicesDep = Annotated[AppServices, Depends(get_services)]


async def get_storage(services: ServicesDep) -> Storage:
    return services.storage


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    # The request owns the transaction: commit when the endpoint returns, roll back when it
    # raises. scope="function" runs the commit before the response is sent, so a client
    # never sees success for a transaction that then failed to commit.
    async with services.database.transaction() as session:
        yield session


StorageDep = Annotated[Storage, Depends(get_storage)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
