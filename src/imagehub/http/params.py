"""Query parameters every paged listing shares."""

from typing import Annotated

from fastapi import Query

from imagehub.core.fields import WholeNumber
from imagehub.core.pagination import MAX_LIMIT

Limit = Annotated[WholeNumber, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Cursor = Annotated[
    str | None, Query(max_length=500, description="the `X-Next-Cursor` of the previous page")
]
