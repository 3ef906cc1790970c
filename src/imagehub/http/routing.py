"""A router whose every route answers with and without its trailing slash, no redirect."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


class Router(APIRouter):
    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        if path in ("", "/"):
            return
        twin = path.rstrip("/") if path.endswith("/") else path + "/"
        super().add_api_route(twin, endpoint, **{**kwargs, "include_in_schema": False})
