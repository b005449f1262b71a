"""SLA-breach risk of running orders: when each will likely complete, and how likely it is to miss its target.

For every element, the model keeps how long completed orders took from reaching it to their end (their remaining
time), by process and channel (the channel changes the path and its waits: partner orders wait for documents). For
a running order at element E, reached at time t, that has already waited w = now - t there, the remaining times
that are possible are those longer than w (an order that waited an hour at a carrier is among the slow ones, so
the fast ones no longer count: the distribution is conditioned on having survived w). The predicted completion is
t plus their median; the risk is the share of them that end after the order's SLA deadline (created + target). An
order already past its deadline has risk 1. With too few samples for its channel at E the model takes all channels
at E; with too few at E (an element not seen before), the process's order times from the start.

`evaluate` replays this on history: at a cut moment it fits the model on orders completed before, finds the orders
running then (and where each was, from the audit trail), and compares the at-risk list with which of them went on
to miss their target: precision and recall."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from processes.prediction.history import NO_CHANNEL, Visit
from processes.reporting.sla import SlaTargets

MIN_SAMPLES = 20  # fewer remaining times than this for a channel at an element: use all channels there
MIN_SURVIVORS = 5  # fewer than this longer than the wait so far: use the longest MIN_SURVIVORS (the tail we know)
START = "(start)"  # the key of the order times from the start: the fallback for elements not seen before
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Position:
    """Where a running order is: its element and when it got there (one per active element)."""

    element_id: str
    since: datetime


@dataclass(frozen=True)
class RunningOrder:
    id: str
    process_key: str
    channel: str
    created_at: datetime
    positions: tuple[Position, ...]


@dataclass(frozen=True)
class Risk:
    instance_id: str
    process_key: str
    risk: float | None  # None: the process has no SLA target
    predicted_completion: datetime | None  # None: nothing known to predict from
    deadline: datetime | None
    element_id: str | None  # the position the prediction came from (the latest-ending one)


@dataclass
class RiskModel:
    """Remaining times in seconds, sorted, by (process, element, channel) and (process, element)."""

    by_channel: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    by_element: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    samples: int = 0

    @classmethod
    def fit(cls, visits: Iterable[Visit]) -> RiskModel:
        by_channel: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        by_element: dict[tuple[str, str], list[float]] = defaultdict(list)
        starts: dict[str, set] = defaultdict(set)
        count = 0
        for visit in visits:
            remaining = visit.remaining.total_seconds()
            by_channel[(visit.process_key, visit.element_id, visit.channel)].append(remaining)
            by_element[(visit.process_key, visit.element_id)].append(remaining)
            # The order's own time from its start, once per order (an order has many visits).
            if visit.instance_id not in starts[visit.process_key]:
                starts[visit.process_key].add(visit.instance_id)
                total = (visit.order_ended_at - visit.order_created_at).total_seconds()
                by_element[(visit.process_key, START)].append(total)
                by_channel[(visit.process_key, START, visit.channel)].append(total)
            count += 1
        return cls({k: sorted(v) for k, v in by_channel.items()}, {k: sorted(v) for k, v in by_element.items()}, count)

    def remaining_times(self, process_key: str, element_id: str, channel: str) -> list[float]:
        for found in (
            self.by_channel.get((process_key, element_id, channel)),
            self.by_element.get((process_key, element_id)),
            self.by_channel.get((process_key, START, channel)),
            self.by_element.get((process_key, START)),
        ):
            if found and len(found) >= MIN_SAMPLES:
                return found
        return self.by_element.get((process_key, element_id)) or self.by_element.get((process_key, START)) or []

    def assess(self, order: RunningOrder, targets: SlaTargets, now: datetime) -> Risk:
        target = targets.for_process(order.process_key)
        deadline = order.created_at + target.target if target is not None and target.target else None
        best: tuple[datetime, float | None, str] | None = None
        positions = order.positions or (Position(START, order.created_at),)
        for position in positions:
            key = position.element_id if position.element_id else START
            times = self.remaining_times(order.process_key, key, order.channel)
            if not times:
                continue
            since = position.since if key != START else order.created_at
            waited = (now - since).total_seconds()
            survivors = times[bisect_right(times, waited) :] or []
            if len(survivors) < MIN_SURVIVORS:
                survivors = times[-MIN_SURVIVORS:]
            median = survivors[len(survivors) // 2]
            predicted = max(since + timedelta(seconds=median), now)
            risk = None
            if deadline is not None:
                if now >= deadline:
                    risk = 1.0
                else:
                    allowed = (deadline - since).total_seconds()
                    late = len(survivors) - bisect_right(survivors, allowed)
                    risk = late / len(survivors)
            # Parallel branches: the order ends with its slowest branch.
            if best is None or predicted > best[0]:
                best = (predicted, risk, position.element_id)
        if best is None:
            return Risk(
                order.id, order.process_key, 1.0 if deadline and now >= deadline else None, None, deadline, None
            )
        predicted, risk, element = best
        return Risk(order.id, order.process_key, risk, predicted, deadline, element)


def running_order(
    instance_id: str,
    process_key: str,
    channel: object,
    created_at: datetime,
    active_elements: list[dict] | None,
) -> RunningOrder:
    """A running order from its row: the active elements with the moment each was reached (`since`)."""
    positions = []
    for element in active_elements or []:
        since = element.get("since")
        if element.get("elementId") and since:
            positions.append(Position(element["elementId"], _parse(since)))
    return RunningOrder(
        instance_id, process_key, str(channel) if channel not in (None, "") else NO_CHANNEL, created_at,
        tuple(positions),
    )  # fmt: skip


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.rstrip("Z"))


@dataclass(frozen=True)
class Evaluation:
    """How the at-risk list did on history, per order: an order is flagged when it was on the list at any
    moment it was looked at, early enough before its deadline; it breached when it completed after its deadline."""

    orders: int
    breached: int
    flagged: int
    caught: int  # flagged and then breached
    threshold: float
    every_minutes: int
    lead_minutes: int

    @property
    def precision(self) -> float | None:
        return self.caught / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.caught / self.breached if self.breached else None

    def view(self) -> dict:
        return {
            "orders": self.orders,
            "breached": self.breached,
            "flagged": self.flagged,
            "caught": self.caught,
            "threshold": self.threshold,
            "everyMinutes": self.every_minutes,
            "leadMinutes": self.lead_minutes,
            "precision": None if self.precision is None else round(self.precision, 4),
            "recall": None if self.recall is None else round(self.recall, 4),
        }


def evaluate(
    visits: list[Visit],
    targets: SlaTargets,
    start: datetime,
    end: datetime,
    every: timedelta = timedelta(minutes=15),
    threshold: float = DEFAULT_THRESHOLD,
    lead: timedelta = timedelta(minutes=30),
) -> Evaluation:
    """Replay the at-risk list on history: every `every` from `start` to `end`, assess the orders running then
    (where each was, from its trail) with a model fitted on the orders completed before that day began (refitted
    daily, as the scheduler would, and never on what happened after). Orders of processes with an SLA target,
    placed in [start, end). A flag counts only when it came at least `lead` before the deadline: a warning in the
    last minutes is no help to anyone."""
    trails: dict[str, list[Visit]] = defaultdict(list)
    for visit in visits:
        trails[visit.instance_id].append(visit)
    orders = sorted(
        (t for t in trails.values() if _deadline(t[0], targets) is not None and start <= t[0].order_created_at < end),
        key=lambda t: t[0].order_created_at,
    )
    created = [t[0].order_created_at for t in orders]
    longest = max((_deadline(t[0], targets) - t[0].order_created_at for t in orders), default=timedelta(0))
    flagged_ids: set[str] = set()
    model, model_day = None, None
    cut = start
    while cut < end:
        day = cut.replace(hour=0, minute=0, second=0, microsecond=0)
        if day != model_day:
            model, model_day = RiskModel.fit(v for v in visits if v.order_ended_at < day), day
        # Only orders placed within the longest target before the cut can be running and not yet late.
        for trail in orders[bisect_right(created, cut - longest) : bisect_right(created, cut)]:
            first = trail[0]
            deadline = _deadline(first, targets)
            if first.instance_id in flagged_ids or not cut < first.order_ended_at or deadline - lead < cut:
                continue
            at = tuple(Position(v.element_id, v.entered_at) for v in trail if v.entered_at <= cut < v.left_at)
            order = RunningOrder(first.instance_id, first.process_key, first.channel, first.order_created_at, at)
            found = model.assess(order, targets, cut).risk
            if found is not None and found >= threshold:
                flagged_ids.add(first.instance_id)
        cut += every
    breached_ids = {t[0].instance_id for t in orders if t[0].order_ended_at > _deadline(t[0], targets)}
    return Evaluation(
        len(orders),
        len(breached_ids),
        len(flagged_ids),
        len(flagged_ids & breached_ids),
        threshold,
        int(every.total_seconds() // 60),
        int(lead.total_seconds() // 60),
    )


def _deadline(visit: Visit, targets: SlaTargets) -> datetime | None:
    target = targets.for_process(visit.process_key)
    return visit.order_created_at + target.target if target is not None and target.target else None
