"""The one list of features orderflow runs with, written once: the engine, the parser, the serializer and lint
all take it from here (`processes.core.Feature` says what a feature may hook into).

The order matters where hooks run one after another: compensation settles before bean calls and conditions (it
remembers what completed, even when a step ends in an incident); multi-instance markers wrap the activities of the
features before it; service-task jobs are derived before the inbox and message subscriptions."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from inbox import Escalations, HumanTasks, Reviews
from observability import logs
from processes.core import Engine, EngineSettings, Feature, JobDispatcher
from processes.expressions.beans import check_beans
from processes.expressions.script_engine import SandboxedScriptEngine
from processes.features import (
    BeanCalls,
    CallActivities,
    Compensation,
    ConditionalEvents,
    Decisions,
    EventGateways,
    EventSubprocesses,
    Messages,
    MultiInstance,
    ThrownEvents,
    TimerStarts,
)
from processes.jobs import ServiceTasks
from processes.operations.batches import BatchRunner
from processes.operations.suspension import Suspension
from processes.reporting.traces import StepTracing


def default_features(settings: EngineSettings | None = None) -> list[Feature]:
    """A new list of orderflow's features (some keep caches, so each engine gets its own). Step tracing comes first
    (its span and the order's log ids wrap what the others do), and only while tracing or JSON log lines are on."""
    observed: list[Feature] = [StepTracing()] if logs.active() else []
    return [
        *observed,
        Compensation(),
        BeanCalls(),
        CallActivities(),
        Decisions(),
        MultiInstance(),  # after the features whose activities it wraps in multi-instance markers
        ConditionalEvents(),
        EventSubprocesses(),
        EventGateways(),
        ThrownEvents(),
        TimerStarts(),
        ServiceTasks(),
        Messages(),
        HumanTasks(),
        Reviews(),
        Escalations(),
        Suspension(),  # holds a suspended order's jobs, also those the features before it made in the step
        BatchRunner(),
    ]


def build_engine(
    session_factory: sessionmaker,
    dispatcher: JobDispatcher | None = None,
    settings: EngineSettings | None = None,
    *,
    observers: list[Feature] | None = None,
) -> Engine:
    """An engine with orderflow's features and its sandboxed script engine (with the registered beans).
    `observers` are features that only watch, after all the others (the scenario tester's coverage recorder)."""
    settings = settings or EngineSettings()
    settings.beans = check_beans(settings.beans)
    return Engine(
        session_factory,
        dispatcher,
        settings,
        features=default_features(settings) + list(observers or ()),
        script_engine=SandboxedScriptEngine(settings.beans),
    )
