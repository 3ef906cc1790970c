"""Imports every domain's tables so `Base.metadata` knows them all (migrations, tests)."""


def import_all_models() -> None:
    import imagehub.accounts.models
    import imagehub.health.models
    import imagehub.moderation.models
    import imagehub.processing.models
    import imagehub.repostats.models  # noqa: F401
