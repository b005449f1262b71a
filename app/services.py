"""Wiring: the engine, the job service with the connector registry, and the job transport."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from app.features import build_engine
from connectors import (
    BusinessError,
    ConnectorError,
    ConnectorRegistry,
    JobContext,
    TransientError,
    build_registry,
)
from connectors.errors import Discrepancy
from connectors.registry import retry_policy
from processes.core.db import make_session_factory
from processes.core.engine import Engine, EngineSettings
from processes.core.transport import JobDispatcher
from processes.expressions.beans import load as load_beans
from processes.jobs.arrivals import AnnouncingDispatcher, JobArrivals
from processes.jobs.embedded import EmbeddedRunner
from processes.jobs.service import BpmnErrorThrown, ClaimedJob, JobExecutor, JobFailed, JobNeedsReview, JobService
from processes.prediction import Predictor


def connector_executor(registry: ConnectorRegistry) -> JobExecutor:
    """Runs a service job with the connector bound to its topic, mapping connector errors to job outcomes."""

    def execute(job: ClaimedJob) -> dict[str, Any]:
        connector = registry.get(job.topic or "")
        if connector is None:
            raise JobFailed(f"no connector is bound to topic '{job.topic}'", retryable=False)
        context = JobContext(
            job_id=job.id,
            idempotency_key=f"orderflow-job-{job.id}",  # the same for every attempt of this job
            attempt=job.attempt,
            instance_id=job.instance_id,
            business_key=job.business_key,
            element_id=job.element_id or "",
            topic=job.topic or "",
        )
        try:
            return connector(job.variables, context)
        except Discrepancy as exc:  # never accepted silently: a person reviews asked vs got
            raise JobNeedsReview(exc.code, exc.message, dict(exc.asked), dict(exc.got), dict(exc.variables)) from exc
        except BusinessError as exc:
            raise BpmnErrorThrown(exc.code, exc.message) from exc
        except TransientError as exc:
            raise JobFailed(str(exc), retryable=True) from exc
        except ConnectorError as exc:
            raise JobFailed(str(exc), retryable=False) from exc

    return execute


@dataclass
class Services:
    engine: Engine
    jobs: JobService
    connectors: ConnectorRegistry
    runner: EmbeddedRunner | None
    arrivals: JobArrivals  # where external workers' long polls wait for new jobs
    predictor: Predictor  # forecasts, capacity advice, SLA risk (processes/prediction)

    @property
    def transport(self) -> str:
        if self.runner is not None:
            return "embedded"
        return "celery" if self.engine.dispatcher.sends_after_commit else "none"

    def start_workers(self) -> None:
        if self.runner is not None:
            self.runner.start()
            self.predictor.warm()  # the first fit, off the request path; then every refit interval

    def stop_workers(self) -> None:
        if self.runner is not None:
            self.runner.stop()


def build_services(sql_engine, config: Mapping[str, Any]) -> Services:
    registry = build_registry(
        {**config["ORDERFLOW_CONNECTOR_SETTINGS"], "ORDERFLOW_SANDBOX_URL": config["ORDERFLOW_SANDBOX_URL"]}
    )
    settings = EngineSettings(
        lease_seconds=config["ORDERFLOW_LEASE_SECONDS"],
        retry_policy=lambda topic: tuple(retry_policy(topic)) if topic in registry else None,
        beans=load_beans(config.get("ORDERFLOW_BEANS")),
        expression_seconds=config.get("ORDERFLOW_EXPRESSION_SECONDS", 1.0),
        expression_steps=config.get("ORDERFLOW_EXPRESSION_STEPS", 1_000_000),
        max_variables_bytes=config.get("ORDERFLOW_MAX_VARIABLES_BYTES", 4 * 1024 * 1024),
    )
    runner = None
    dispatcher = JobDispatcher()
    engine = build_engine(make_session_factory(sql_engine), dispatcher=dispatcher, settings=settings)
    jobs = JobService(engine, connector_executor(registry))
    if config["ORDERFLOW_BROKER_URL"]:
        from processes.jobs.broker import CeleryDispatcher

        from .worker import celery

        engine.dispatcher = CeleryDispatcher(topics=registry.topics(), app=celery, unsent=jobs.mark_unsent)
    from .monitoring import build_predictor, schedule_alerts, schedule_predictions

    predictor = build_predictor(engine, config)
    if config["ORDERFLOW_EMBEDDED_WORKERS"] and not config["ORDERFLOW_BROKER_URL"]:
        runner = EmbeddedRunner(jobs, threads=config["ORDERFLOW_WORKER_THREADS"], topics=registry.topics())
        engine.dispatcher = runner
        schedule_predictions(runner, predictor)
        schedule_alerts(runner, engine, config, predictor)  # the `orderflow scheduler` loop checks them with a broker
    arrivals = JobArrivals(
        limit=config.get("ORDERFLOW_LONG_POLLS", 8),
        recheck_seconds=config.get("ORDERFLOW_LONG_POLL_RECHECK_SECONDS", 1.0),
    )
    engine.dispatcher = AnnouncingDispatcher(engine.dispatcher, arrivals)
    return Services(
        engine=engine, jobs=jobs, connectors=registry, runner=runner, arrivals=arrivals, predictor=predictor
    )


def services() -> Services:
    return current_app.extensions["orderflow"]
