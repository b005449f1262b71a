"""One shape for every list the API returns: a page of items and the total count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.orm import Session


def page_of(
    session: Session | Connection,
    query: Select,
    order_by: tuple,
    page: int,
    per_page: int,
    view: Callable[[Any], dict],
    *,
    columns: bool = False,
) -> dict[str, Any]:
    """``columns``: the query selects columns, and ``view`` gets each row (ORM entities otherwise)."""
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    paged = query.order_by(*order_by).offset((page - 1) * per_page).limit(per_page)
    rows = session.execute(paged).all() if columns else session.scalars(paged).all()
    return {"items": [view(row) for row in rows], "total": total, "page": page, "perPage": per_page}
