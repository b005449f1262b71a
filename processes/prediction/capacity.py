"""Capacity advice: how many workers each job topic needs in the coming hours.

Measured over the last day: for each process and topic, jobs per order (done jobs of the topic over orders
started), and for each topic the median time from a job being due to its being done. One worker runs one job at a
time, so it does 3600 / that time jobs an hour. (The time includes any wait in the queue, so under a backlog it
overstates the work and the advice errs on the side of more workers.)

For each coming hour: jobs expected = the sum over processes of forecast orders x jobs per order; workers needed =
jobs expected x seconds per job / 3600, divided by the utilisation workers should run at (80%: queues grow
without bound as it nears 100%), rounded up. The same from the top of the forecast's band says what a busy hour
at the edge of the forecast would need."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from processes.prediction.forecast import Forecast
from processes.prediction.history import TopicJobs

UTILISATION = 0.8


@dataclass(frozen=True)
class TopicLoad:
    topic: str
    seconds_per_job: float
    jobs_per_order: dict[str, float]  # per process key
    jobs_measured: int


def topic_loads(jobs: list[TopicJobs], orders: dict[str, int]) -> list[TopicLoad]:
    by_topic: dict[str, list[TopicJobs]] = defaultdict(list)
    for found in jobs:
        by_topic[found.topic].append(found)
    loads = []
    for topic, found in sorted(by_topic.items()):
        seconds = sorted(s for f in found for s in f.seconds)
        per_order = {f.process_key: f.jobs / orders[f.process_key] for f in found if orders.get(f.process_key)}
        if seconds and per_order:
            # A floor of 10 ms: a topic whose jobs take no measurable time still needs someone to run them.
            loads.append(TopicLoad(topic, max(seconds[len(seconds) // 2], 0.01), per_order, len(seconds)))
    return loads


@dataclass(frozen=True)
class Advice:
    topic: str
    seconds_per_job: float
    jobs_per_worker_hour: float
    hours: list[tuple[datetime, float, int, int]]  # hour, jobs expected, workers needed, workers at the band's top
    on_hand: int | None  # workers configured for the topic (ORDERFLOW_CAPACITY_WORKERS); None: not said

    @property
    def now(self) -> int:
        return self.hours[0][2] if self.hours else 0

    def peak(self, within: int | None = None) -> tuple[datetime | None, int, int]:
        """The busiest hour (of the first `within`): when, workers needed, workers at the band's top."""
        hours = self.hours[:within] if within else self.hours
        if not hours:
            return None, 0, 0
        at, _, needed, high = max(hours, key=lambda h: (h[2], h[3]))
        return at, needed, high


def workers(jobs_expected: float, seconds_per_job: float, utilisation: float = UTILISATION) -> int:
    return math.ceil(round(jobs_expected * seconds_per_job / 3600 / utilisation, 6))


def advise(
    loads: list[TopicLoad],
    forecasts: dict[str, Forecast],
    since: datetime,
    hours: int = 24,
    on_hand: dict[str, int] | None = None,
    default_on_hand: int | None = None,
) -> list[Advice]:
    """Workers per topic for each of the next `hours`, from each process's forecast (without a forecast a process
    adds nothing: the advice says what the forecasts support)."""
    advice = []
    for load in loads:
        rows: dict[datetime, list[float]] = {}
        for key, per_order in load.jobs_per_order.items():
            found = forecasts.get(key)
            if found is None:
                continue
            for at, expected, _, high in found.points(since, hours):
                row = rows.setdefault(at, [0.0, 0.0])
                row[0] += expected * per_order
                row[1] += high * per_order
        hourly = [
            (at, round(jobs, 2), workers(jobs, load.seconds_per_job), workers(high, load.seconds_per_job))
            for at, (jobs, high) in sorted(rows.items())
        ]
        advice.append(
            Advice(
                load.topic,
                round(load.seconds_per_job, 3),
                round(3600 / load.seconds_per_job, 1) if load.seconds_per_job else math.inf,
                hourly,
                (on_hand or {}).get(load.topic, default_on_hand),
            )
        )
    return advice
