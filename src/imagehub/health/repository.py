from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from imagehub.core.db import dialect_insert
from imagehub.health.models import WorkerHeartbeat


def record_heartbeat(session: Session, hostname: str, seen_at: datetime) -> None:
    statement = dialect_insert(session)(WorkerHeartbeat).values(hostname=hostname, seen_at=seen_at)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[WorkerHeartbeat.hostname], set_={"seen_at": seen_at}
        )
    )


async def ping(session: AsyncSession) -> None:
    await session.execute(text("SELECT 1"))


async def heartbeats_since(session: AsyncSession, since: datetime) -> list[WorkerHeartbeat]:
    rows = await session.scalars(
        select(WorkerHeartbeat)
        .where(WorkerHeartbeat.seen_at >= since)
        .order_by(WorkerHeartbeat.hostname)
    )
    return list(rows)
