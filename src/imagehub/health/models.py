from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.core.db import Base, UTCDateTime


class WorkerHeartbeat(Base):
    """The last time each worker host ran the periodic heartbeat task."""

    __tablename__ = "worker_heartbeats"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
