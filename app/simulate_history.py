"""`orderflow simulate-history`: weeks of order history in seconds, to see and check the predictions.

Time is compressed by writing the rows the engine would have written, back-dated: for each past order of
order_fulfillment its row (completed, with its channel), its audit trail (started, each element completed with
when it was reached, completed) and its service jobs (done). Nothing runs through the engine for the past, so
weeks take seconds. The orders still under way at the end are started for real through the engine (they wait at
their first service tasks, as real orders do) and only the moment each was placed is set back, so they are real
orders an operator can open, work and cancel; their audit trail shows when the simulation started them.

The demand has what real demand has: a daily rhythm (a late-morning peak and an evening one from the web shop),
a weekly one (busy Mondays, quiet weekends), noise (Poisson counts) and one surge (a promotion: 2.5 times the usual
orders for eight hours, ten days before the end). The time to fulfil has what makes orders late: queues when
arrivals outrun the workers (the surge), a warehouse that reserves EDI orders in half-hourly batches, payments
declined and retried, and carriers that fail and are retried for hours."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

from processes.core.engine import Engine
from processes.core.models import (
    COMPLETED,
    JOB_DONE,
    SERVICE,
    AuditEvent,
    Job,
    ProcessDefinition,
    ProcessInstance,
    iso,
    new_id,
    utcnow,
)
from processes.instances import start_instance

from .simulate import make_order

PROCESS = "order_fulfillment"
DIAGRAM = Path(__file__).resolve().parent.parent / "bpmn" / "order_fulfillment.bpmn"
CHANNELS = (("web", 0.6), ("marketplace", 0.25), ("edi", 0.15))
WEEKDAY = (1.15, 1.05, 1.0, 1.0, 0.95, 0.6, 0.5)  # Monday first
SURGE = (10, 2.5, 8)  # days before the end, factor, hours
TOPICS = {
    "Task_ReserveInventory": "wms.reserve",
    "Task_AuthorizePayment": "payment.authorize",
    "Task_CapturePayment": "payment.capture",
    "Task_ShipOrder": "wms.ship",
}
CHUNK = 5000
SERVICE_SECONDS = {  # median time a worker spends on one job
    "Task_ReserveInventory": 20.0,
    "Task_AuthorizePayment": 5.0,
    "Task_CapturePayment": 5.0,
    "Task_ShipOrder": 30.0,
}


@dataclass(frozen=True)
class HistoryResult:
    start: datetime
    end: datetime
    orders: int
    late: int
    running: list[str]
    sla: str


def shape(moment: datetime) -> float:
    """The demand's rhythm at a moment: 1.0 is an ordinary weekday's late-morning peak."""
    hour = moment.hour + 0.5
    daily = 0.12 + math.exp(-(((hour - 11) / 3.0) ** 2)) + 0.6 * math.exp(-(((hour - 20) / 2.0) ** 2))
    return daily * WEEKDAY[moment.weekday()]


def rate(moment: datetime, end: datetime, orders_per_hour: float) -> float:
    """Expected orders in the hour starting at `moment` (with the surge)."""
    days, factor, hours = SURGE
    surge_start = (end - timedelta(days=days)).replace(hour=10, minute=0, second=0, microsecond=0)
    surge = factor if surge_start <= moment < surge_start + timedelta(hours=hours) else 1.0
    return orders_per_hour * shape(moment) * surge


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    roll, total = rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if roll < total:
            return value
    return weighted[-1][0]


def _journey(rng: random.Random, channel: str, created: datetime, load: float) -> list[tuple[str, float, float]]:
    """The elements an order goes through: (element, seconds after it was reached until done, the last job attempt's
    seconds). `load` is arrivals over what the workers can take at ease: above 1, jobs queue."""
    queue = max(load - 1.0, 0.0) * 3600 * rng.uniform(0.3, 0.7)  # the surge's backlog
    work = {e: rng.lognormvariate(math.log(s), 0.4) for e, s in SERVICE_SECONDS.items()}
    reserve = queue + work["Task_ReserveInventory"]
    if channel == "edi":  # the warehouse reserves EDI orders in half-hourly batches
        reserve += rng.uniform(0, 1800)
    authorize = queue + work["Task_AuthorizePayment"]
    if rng.random() < 0.04:  # declined, retried after the customer updates the card
        authorize += rng.uniform(1200, 3600)
    capture = work["Task_CapturePayment"]
    ship = work["Task_ShipOrder"]
    carrier_fails = 0.18 if channel == "marketplace" else 0.08
    if rng.random() < carrier_fails:  # the carrier fails; retried with backoff for hours
        ship += rng.uniform(3600, 5 * 3600)
    return [
        ("Task_ValidateOrder", 0.2, 0.0),
        ("Task_ReserveInventory", reserve, work["Task_ReserveInventory"]),
        ("Task_AuthorizePayment", authorize, work["Task_AuthorizePayment"]),
        ("Task_CapturePayment", capture, capture),
        ("Task_ShipOrder", ship, work["Task_ShipOrder"]),
    ]


def _definition(engine: Engine) -> ProcessDefinition:
    from processes.deployment.deployments import deploy

    deploy(engine, [(DIAGRAM.name, DIAGRAM.read_bytes())], actor="simulate-history")
    with engine.read_session() as session:
        found = session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.key == PROCESS).order_by(ProcessDefinition.version.desc())
        ).first()
        session.expunge(found)
        return found


def write_history(
    engine: Engine,
    *,
    weeks: float = 4,
    orders_per_hour: float = 40.0,
    running: int = 30,
    sla: timedelta = timedelta(hours=2),
    end: datetime | None = None,
    now: datetime | None = None,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> HistoryResult:
    """Write `weeks` of order_fulfillment history ending at the hour of `end` (default now), then start `running`
    orders placed in the two hours before `now`."""
    rng = random.Random(seed)
    end = (end or utcnow()).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(weeks=weeks)
    definition = _definition(engine)
    ease = orders_per_hour * 1.3  # what the workers take without queueing: a busy Monday, not the surge
    hours = int((end - start) / timedelta(hours=1))
    rows: dict[str, list[dict]] = {"instances": [], "events": [], "jobs": []}
    late = 0
    for n in range(hours):
        hour = start + timedelta(hours=n)
        expected = rate(hour, end, orders_per_hour)
        made = _orders(rng, definition, hour, _poisson(rng, expected), expected / ease, end, sla)
        late += made.pop("late")
        for name, found in made.items():
            rows[name].extend(found)
    # The trail is appended in time order (the audit search finds windows by id): sort before inserting.
    rows["events"].sort(key=lambda e: e["at"])
    _insert(engine, rows, progress)
    started = _start_running(engine, rng, running, utcnow() if now is None else now)
    return HistoryResult(start, end, len(rows["instances"]), late, started, iso(end + sla) or "")


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method for small means, a rounded normal for large ones (both well within the noise we want)."""
    if mean > 50:
        return max(round(rng.gauss(mean, math.sqrt(mean))), 0)
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _orders(
    rng: random.Random,
    definition: ProcessDefinition,
    hour: datetime,
    count: int,
    load: float,
    end: datetime,
    sla: timedelta,
) -> dict:
    instances: list[dict] = []
    events: list[dict] = []
    jobs: list[dict] = []
    late = 0
    for _ in range(count):
        created = hour + timedelta(seconds=rng.uniform(0, 3600))
        channel = _pick(rng, CHANNELS)
        steps = _journey(rng, channel, created, load)
        validate, reserve, authorize, capture, ship = steps
        # Reserve and authorize run side by side after validation; capture waits for both.
        t_valid = created + timedelta(seconds=validate[1])
        t_reserved = t_valid + timedelta(seconds=reserve[1])
        t_authorized = t_valid + timedelta(seconds=authorize[1])
        t_fulfilled = max(t_reserved, t_authorized)
        t_captured = t_fulfilled + timedelta(seconds=capture[1])
        t_shipped = t_captured + timedelta(seconds=ship[1])
        if t_shipped >= end:
            continue  # would still be under way: the running orders at the end are real ones
        instance_id = new_id()
        late += t_shipped - created > sla
        instances.append(
            {
                "id": instance_id,
                "definition_id": definition.id,
                "process_key": definition.key,
                "definition_version": definition.version,
                "business_key": f"HIST-{instance_id[:12]}",
                "status": COMPLETED,
                "revision": 1,
                "state": "",
                "variables": {"channel": channel},
                "active_elements": [],
                "created_at": created,
                "updated_at": t_shipped,
                "ended_at": t_shipped,
            }
        )
        visits = [
            ("Task_ValidateOrder", "scriptTask", created, t_valid, None),
            ("Task_ReserveInventory", "serviceTask", t_valid, t_reserved, reserve[2]),
            ("Task_AuthorizePayment", "serviceTask", t_valid, t_authorized, authorize[2]),
            ("Task_CapturePayment", "serviceTask", t_fulfilled, t_captured, capture[2]),
            ("Task_ShipOrder", "serviceTask", t_captured, t_shipped, ship[2]),
        ]
        events.append(_event(instance_id, "instance_started", created))
        for element, kind, entered, left, work in visits:
            events.append(_event(instance_id, "element_completed", left, element, kind, entered))
            if work is not None:
                jobs.append(
                    {
                        "id": new_id(),
                        "instance_id": instance_id,
                        "kind": SERVICE,
                        "topic": TOPICS[element],
                        "element_id": element,
                        "status": JOB_DONE,
                        "due_at": left - timedelta(seconds=work),  # the last attempt: due, then done
                        "created_at": entered,
                        "updated_at": left,
                        "variables": {},
                    }
                )
        events.append(_event(instance_id, "instance_completed", t_shipped))
    return {"instances": instances, "events": events, "jobs": jobs, "late": late}


def _event(
    instance_id: str,
    kind: str,
    at: datetime,
    element: str | None = None,
    element_type: str | None = None,
    entered: datetime | None = None,
) -> dict:
    return {
        "instance_id": instance_id,
        "at": at,
        "type": kind,
        "element_id": element,
        "element_name": None,
        "element_type": element_type,
        "actor": "simulate-history",
        "data": None,
        "entered_at": entered,
    }


def _insert(engine: Engine, rows: dict[str, list[dict]], progress: Callable[[int, int], None] | None) -> None:
    """In chunks of 5,000 rows, one transaction each, so a long write never holds SQLite's one writer for long."""
    chunks = [
        (model, rows[name][i : i + CHUNK])
        for model, name in ((ProcessInstance, "instances"), (Job, "jobs"), (AuditEvent, "events"))
        for i in range(0, len(rows[name]), CHUNK)
    ]
    for n, (model, chunk) in enumerate(chunks, 1):
        with engine.write_session() as session:
            session.execute(insert(model), chunk)
            session.commit()
        if progress:
            progress(n, len(chunks))


def _start_running(engine: Engine, rng: random.Random, count: int, end: datetime) -> list[str]:
    """Real orders, placed in the two hours before `end`: they wait at their first service tasks for a worker
    (as if the warehouse's workers had stopped taking jobs when they were placed)."""
    started = []
    for n in range(count):
        channel = _pick(rng, CHANNELS)
        result = start_instance(
            engine, PROCESS, variables={**make_order(rng), "channel": channel}, business_key=f"LIVE-{n}-{new_id()[:6]}"
        )
        instance_id = result.instance["id"]
        placed = end - timedelta(seconds=rng.uniform(0, 2 * 3600))
        since = placed + timedelta(seconds=1)
        with engine.write_session() as session:
            row = session.get(ProcessInstance, instance_id)
            elements = [{**e, "since": iso(since)} for e in row.active_elements or []]
            session.execute(
                update(ProcessInstance)
                .where(ProcessInstance.id == instance_id)
                .values(created_at=placed, active_elements=elements)
            )
            session.execute(update(Job).where(Job.instance_id == instance_id).values(created_at=since, due_at=since))
            session.commit()
        started.append(instance_id)
    return started


def report(engine: Engine, result: HistoryResult, sla: timedelta) -> list[str]:
    """What the predictions make of the history just written: the forecast's back-tested error, and how the
    at-risk list would have done over its last week (see processes/prediction/risk.py: evaluate)."""
    from processes.prediction import PredictionSettings, Predictor, completed_visits, evaluate
    from processes.reporting.sla import ProcessTarget, SlaTargets

    targets = SlaTargets({PROCESS: ProcessTarget(target=sla)})
    fitted = Predictor(engine, PredictionSettings(targets=targets)).refit()
    lines = []
    for (key, channel), found in sorted(fitted.forecasts.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        error = found.backtest
        lines.append(
            f"forecast {key}{f' ({channel})' if channel else ''}: WAPE {error.value:.1%}, MAPE over hours with "
            f"orders {error.mape:.1%} ({error.horizon_hours} h ahead, {error.origins} rolling origins, "
            f"season {found.season_hours} h); seasonal naive WAPE {error.naive:.1%}"
        )
    visits = completed_visits(engine, result.start, result.end)
    found = evaluate(visits, targets, result.end - timedelta(days=7), result.end - sla)
    lines.append(
        f"at-risk list over the last week (risk >= {found.threshold:.0%}, looked at every {found.every_minutes} min, "
        f"flagged at least {found.lead_minutes} min before the deadline): {found.orders} orders, {found.breached} "
        f"missed their {sla.total_seconds() / 3600:g} h SLA, {found.flagged} flagged, {found.caught} of them "
        f"missed it: "
        f"precision {found.precision or 0:.1%}, recall {found.recall or 0:.1%}"
    )
    return lines
