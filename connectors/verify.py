"""Response verification: what a connector asked for against what the remote system says it did.

Each connector lists its expectations (``Expect(name, asked, got)``) after a call and hands them,
with the variables it would set, to ``verify``. A mismatch is never silently accepted: it raises
``Discrepancy``, which the job layer turns into a human review. The work was usually done remotely
(money held, stock reserved, label bought), so the exception also carries what was created.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.errors import Discrepancy


@dataclass(frozen=True)
class Expect:
    name: str
    asked: Any
    got: Any

    def holds(self) -> bool:
        return self.asked == self.got


def verify(
    code: str,
    expectations: Iterable[Expect],
    *,
    topic: str,
    variables: Mapping[str, Any],
    reference: str = "",
) -> None:
    """Raise Discrepancy(code) when any expectation fails; ``reference`` names what was created remotely."""
    checked = list(expectations)
    failed = [e for e in checked if not e.holds()]
    if not failed:
        return
    details = "; ".join(f"{e.name}: asked {_plain(e.asked)!r}, got {_plain(e.got)!r}" for e in failed)
    raise Discrepancy(
        code,
        f"{topic}: {details}" + (f" ({reference})" if reference else ""),
        asked={e.name: _plain(e.asked) for e in checked},
        got={e.name: _plain(e.got) for e in checked},
        variables=variables,
        mismatches=tuple(e.name for e in failed),
        topic=topic,
    )


def _plain(value: Any) -> Any:
    """JSON-ready values for the review task: Decimal amounts as numbers, quantity counters as dicts."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Counter):
        return dict(sorted(value.items()))
    return value
