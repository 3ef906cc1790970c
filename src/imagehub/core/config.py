"""Settings: every knob of the service, read from `IMAGEHUB_*` variables and `.env`."""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import time
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# Secrets that appear in our own examples; a production start refuses them.
KNOWN_PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "please-change-me"})
MIN_SECRET_LENGTH = 32


class ConfigurationError(RuntimeError):
    """The settings do not allow the requested command to start."""


class JwtAlgorithm(StrEnum):
    HS256 = "HS256"
    RS256 = "RS256"


ENV_PREFIX = "IMAGEHUB_"


class ValuesInFiles(PydanticBaseSettingsSource):
    """`IMAGEHUB_<NAME>_FILE=/run/secrets/name`: the setting is that file's content (less a
    final newline), the way Docker and Kubernetes hand secrets to a process, so a secret
    need not sit in the environment. Setting both `X` and `X_FILE` is refused."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads them all at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            variable = f"{ENV_PREFIX}{name.upper()}"
            path = os.environ.get(f"{variable}_FILE")
            if not path or name.endswith("_file"):
                continue
            if os.environ.get(variable):
                raise ConfigurationError(f"set {variable} or {variable}_FILE, not both")
            try:
                values[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as error:
                raise ConfigurationError(
                    f"{variable}_FILE names {path}, which cannot be read: {error.strerror}"
                ) from error
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `IMAGEHUB_X=` in .env means "the default"
        extra="ignore",
    )

    # Where the service listens (`imagehub serve` and `imagehub api`).
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # The embedded defaults (database, objects, broker state, secret) live here.
    data_dir: Path = Path("data")

    # Empty means the embedded default: SQLite in data_dir, a local folder, an embedded Redis.
    database_url: str | None = None
    broker_url: str | None = None
    storage_url: str | None = None

    # S3-compatible storage (used when storage_url is s3://bucket[/prefix]).
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    # Browser URLs of stored images: S3 presigns against this host when the S3 endpoint is
    # internal (e.g. http://minio:9000 inside compose, https://files.example.com outside);
    # the local folder gets URLs signed by the API. Both expire after this long.
    storage_public_url: str | None = None
    signed_url_minutes: int = Field(60, ge=1, le=7 * 24 * 60)

    # Tokens. HS256 signs with secret_key; RS256 with a key pair so other services can verify.
    secret_key: SecretStr | None = None
    jwt_algorithm: JwtAlgorithm = JwtAlgorithm.HS256
    jwt_private_key_file: Path | None = None
    jwt_public_key_file: Path | None = None
    access_token_minutes: int = Field(60, ge=1, le=60 * 24 * 30)

    # Login throttling: this many failures per (email, client IP) inside the window -> 429.
    login_max_failures: int = Field(5, ge=1)
    login_failure_window_seconds: int = Field(15 * 60, ge=1)

    # Uploads and the image pipeline.
    upload_max_files: int = Field(100, ge=1, le=10_000)
    upload_max_file_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    upload_max_pixels: int = Field(64_000_000, ge=1)
    # Uploads being received or stored by one API process, in all and per user; beyond
    # either, 429 (a slow client cannot pile up uploads without bound).
    uploads_in_flight: int = Field(32, ge=1)
    uploads_in_flight_per_user: int = Field(4, ge=1)
    # How long a request body may take to arrive in full (408 beyond): uploads, the rest.
    upload_body_seconds: float = Field(600, gt=0)
    body_seconds: float = Field(30, gt=0)
    jpeg_quality: int = Field(90, ge=1, le=100)
    png_compress_level: int = Field(3, ge=0, le=9)
    # The longest side of the thumbnail made of every upload for pages (px).
    thumbnail_max_side: int = Field(400, ge=32, le=2048)
    # One image job makes the copies of a task's next images while their pixels together
    # stay within this (a larger image goes alone; 0: one image per job). Fewer, longer
    # jobs spend less of their time around the pixels; more, shorter ones spread a small
    # upload over more worker processes.
    job_pixels: int = Field(8_000_000, ge=0)
    # A task with no progress for this long has its unfinished images queued again.
    task_stall_seconds: int = Field(600, ge=1)
    # Finished tasks older than this many days are deleted with their files (beat, hourly);
    # unset: kept until their owner deletes them.
    task_retention_days: int | None = Field(None, ge=1)
    # Per-user quotas (unset: none): bytes stored (originals and their copies), and images
    # uploaded per UTC day.
    quota_bytes_per_user: int | None = Field(None, ge=1)
    quota_images_per_day: int | None = Field(None, ge=1)
    # A task folder in storage that no task refers to is removed once untouched this long
    # (an upload stores its originals before it commits: younger ones may be on their way).
    orphan_grace_seconds: int = Field(3600, ge=1)

    # GitHub repository stats. Without a token GitHub allows 60 requests an hour.
    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = None
    # graphql needs a token; auto = graphql with a token, rest without.
    github_mode: Literal["auto", "graphql", "rest"] = "auto"
    # When the daily scan starts (UTC, HH:MM); beat resumes it until every user is done.
    github_scan_at: time = time(3, 0)
    # How often beat looks for users still due: the day's scan starts at most this long
    # after github_scan_at, and one cut short (rate limit, failures) resumes on this beat.
    github_scan_check_seconds: int = Field(300, ge=1, le=3600)
    # Ceilings under GitHub's secondary limits (REST 900 points a minute, GraphQL 2,000,
    # 100 requests in flight).
    github_concurrency: int = Field(8, ge=1, le=100)
    github_rest_per_minute: int = Field(800, ge=1)
    github_graphql_per_minute: int = Field(1800, ge=1)
    github_timeout_seconds: float = Field(20, gt=0)
    # History past GitHub's REST cap (400 pages of 100): how many GraphQL pages of 100 to
    # read from a list's newest end (a token is needed); the days still between the two
    # ends are estimated. 400: 80,000 stars read exactly; 0: estimate past the cap.
    github_history_newest_pages: int = Field(400, ge=0)
    # The longest date range one stats request may ask for.
    github_stats_max_days: int = Field(366, ge=1, le=3660)

    # Processes.
    api_workers: int = Field(1, ge=1)
    worker_concurrency: int = Field(2, ge=1)
    # A port where `imagehub worker` serves its Prometheus metrics (unset: none; under
    # `serve` the API's /metrics shows the worker's figures anyway).
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)
    # Addresses whose X-Forwarded-For is trusted (a reverse proxy in front of the API).
    forwarded_allow_ips: str = "127.0.0.1"
    # A message not acknowledged in this long (its worker died) is delivered again (Redis).
    broker_visibility_timeout_seconds: int = Field(600, ge=5)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            ValuesInFiles(settings_cls),
            file_secret_settings,
        )

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        return self

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'imagehub.db'}"

    @property
    def effective_storage_url(self) -> str:
        return self.storage_url or (self.data_dir / "objects").as_uri()

    @property
    def effective_github_mode(self) -> Literal["graphql", "rest"]:
        if self.github_mode == "auto":
            return "graphql" if self.github_token else "rest"
        return self.github_mode

    @property
    def uses_embedded_broker(self) -> bool:
        return not self.broker_url

    def signing_secret(self) -> str:
        if self.secret_key is None:
            raise ConfigurationError("IMAGEHUB_SECRET_KEY is not set")
        return self.secret_key.get_secret_value()

    def url_signing_key(self) -> bytes:
        """The key of the API's signed file URLs: derived from the token secret (or, with
        RS256, the private key), never the same bytes as either."""
        if self.jwt_algorithm is JwtAlgorithm.RS256 and self.jwt_private_key_file:
            material = Path(self.jwt_private_key_file).read_bytes()
        else:
            material = self.signing_secret().encode()
        return hashlib.sha256(b"imagehub signed file URLs\x00" + material).digest()

    def check_production_ready(self) -> None:
        """Refuse to start a production process with a missing or guessable secret."""
        if self.jwt_algorithm is JwtAlgorithm.RS256:
            for name in ("jwt_private_key_file", "jwt_public_key_file"):
                path = getattr(self, name)
                if path is None or not Path(path).is_file():
                    raise ConfigurationError(f"IMAGEHUB_{name.upper()} must name a readable file")
            return
        value = self.secret_key.get_secret_value() if self.secret_key else ""
        if value.strip().lower() in KNOWN_PLACEHOLDER_SECRETS:
            raise ConfigurationError(
                "IMAGEHUB_SECRET_KEY is empty or a placeholder; set a random value, e.g. "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
            )
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"IMAGEHUB_SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters"
            )


def ensure_embedded_secret(settings: Settings) -> Settings:
    """Embedded mode: a random secret made once and kept in the data folder (mode 0600)."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings
    path = settings.data_dir / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
    else:
        secret = secrets.token_urlsafe(48)
        with os.fdopen(fd, "w") as file:
            file.write(secret)
    return settings.model_copy(update={"secret_key": SecretStr(secret)})


@lru_cache
def get_settings() -> Settings:
    return Settings()
