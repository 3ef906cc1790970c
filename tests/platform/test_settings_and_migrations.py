"""Settings refuse unsafe production starts; migrations run both ways on both databases."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from imagehub.core import migrate
from imagehub.core.config import ConfigurationError, Settings, ensure_embedded_secret
from imagehub.core.db import Base, create_engine
from tests.conftest import make_settings


@pytest.mark.parametrize("secret", [None, "", "changeme", "   ", "short-secret"])
def test_production_refuses_a_missing_or_weak_secret(tmp_path: Path, secret: str | None) -> None:
    with pytest.raises(ConfigurationError, match="IMAGEHUB_SECRET_KEY"):
        make_settings(tmp_path, secret_key=secret).check_production_ready()


def test_production_accepts_a_long_random_secret(tmp_path: Path) -> None:
    make_settings(tmp_path, secret_key="s" * 48).check_production_ready()


def test_rs256_needs_both_key_files(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, jwt_algorithm="RS256", jwt_private_key_file=tmp_path / "missing.pem"
    )
    with pytest.raises(ConfigurationError, match="KEY_FILE"):
        settings.check_production_ready()


def test_embedded_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, secret_key=None)
    first = ensure_embedded_secret(settings)
    second = ensure_embedded_secret(settings)
    assert first.secret_key is not None
    assert second.secret_key is not None
    assert first.secret_key.get_secret_value() == second.secret_key.get_secret_value()
    assert len(first.secret_key.get_secret_value()) >= 48
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600
    first.check_production_ready()


def test_settings_come_from_prefixed_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IMAGEHUB_PORT", "9123")
    monkeypatch.setenv("IMAGEHUB_DATA_DIR", str(tmp_path / "elsewhere"))
    settings = Settings(_env_file=None)
    assert settings.port == 9123
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'elsewhere' / 'imagehub.db'}"
    assert settings.effective_storage_url == (tmp_path / "elsewhere" / "objects").as_uri()


def test_secrets_can_come_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text("k" * 48 + "\n")  # as `echo ... > file` writes it
    database = tmp_path / "database_url"
    database.write_text("postgresql://imagehub:s3cret@db/imagehub")
    monkeypatch.setenv("IMAGEHUB_SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("IMAGEHUB_DATABASE_URL_FILE", str(database))
    settings = Settings(_env_file=None)
    assert settings.signing_secret() == "k" * 48
    assert settings.database_url == "postgresql://imagehub:s3cret@db/imagehub"
    settings.check_production_ready()


def test_a_secret_file_that_cannot_be_read_or_a_double_setting_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IMAGEHUB_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match=r"IMAGEHUB_SECRET_KEY_FILE names .*missing"):
        Settings(_env_file=None)
    (tmp_path / "present").write_text("k" * 48)
    monkeypatch.setenv("IMAGEHUB_SECRET_KEY_FILE", str(tmp_path / "present"))
    monkeypatch.setenv("IMAGEHUB_SECRET_KEY", "j" * 48)
    with pytest.raises(ConfigurationError, match="not both"):
        Settings(_env_file=None)


def test_env_example_lists_every_setting() -> None:
    example = Path(__file__).parents[2] / ".env.example"
    names = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in example.read_text().splitlines()
        if "IMAGEHUB_" in line.split("=", 1)[0]
    }
    expected = {f"IMAGEHUB_{name.upper()}" for name in Settings.model_fields}
    assert expected == names


def test_migrations_go_down_and_up_again(database_url: str) -> None:
    migrate.downgrade(database_url, "base")
    engine = create_engine(database_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate.upgrade(database_url)
    assert migrate.is_up_to_date(database_url)


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], "a model changed without a migration"
