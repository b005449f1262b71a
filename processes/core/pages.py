"""One shape for every list the API returns: a page of items and the total count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def page_of(
    session: Session, query: Select, order_by: tuple, page: int, per_page: int, view: Callable[[Any], dict]
) -> dict[str, Any]:
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(*order_by).offset((page - 1) * per_page).limit(per_page)).all()
    return {"items": [view(row) for row in rows], "total": total, "page": page, "perPage": per_page}
