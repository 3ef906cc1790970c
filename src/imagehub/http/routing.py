"""A router whose every route answers with and without its trailing slash (no redirect),
and HEAD wherever it answers GET."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path


class Router(APIRouter):
    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        paths = [path]
        if path not in ("", "/"):
            paths.append(path.rstrip("/") if path.endswith("/") else path + "/")
        for number, each in enumerate(paths):
            # The twin and the HEAD routes stay out of the document (one operation each).
            shown = kwargs if number == 0 else {**kwargs, "include_in_schema": False}
            super().add_api_route(each, endpoint, **shown)
            if "GET" in (kwargs.get("methods") or []):
                head = {**shown, "methods": ["HEAD"], "include_in_schema": False}
                super().add_api_route(each, endpoint, **head)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route answers on this path (Starlette's 405 names only those of
    the first route that matched the path)."""
    return sorted(
        {method for regex, methods in _routes(app) if regex.match(path) for method in methods}
    )


@lru_cache(maxsize=8)
def _routes(app: FastAPI) -> tuple[tuple[re.Pattern[str], frozenset[str]], ...]:
    return tuple(
        (compile_path(context.path)[0], frozenset(context.methods))
        for context in iter_route_contexts(app.routes)
        if context.methods and context.path
    )
