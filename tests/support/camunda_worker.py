"""A Camunda 7 external-task worker as a Camunda user writes it, with `camunda-external-task-client-python3` from PyPI,
unmodified: it subscribes to order-story topics at /engine-rest and does their work with orderflow's connector
functions against the sandbox systems. Run as its own process, the way such workers run:

    python -m tests.support.camunda_worker URL TOKEN SANDBOX_URL TOPIC...

What it does with an order:
- a variable `workerTrouble: "fail-once"` makes the first attempt fail (`task.failure`, with retries and a short
  retryTimeout), so the retry that follows succeeds;
- a business error of the connector (a denied party, an unknown tax jurisdiction) is thrown as a BPMN error
  (`task.bpmn_error`), as a Camunda worker reports business failures;
- anything else completes with the connector's result (`task.complete`), objects and lists sent as Json."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from camunda.external_task.external_task import ExternalTask, TaskResult
from camunda.external_task.external_task_worker import ExternalTaskWorker

from connectors import BusinessError, JobContext, build_registry


def plain(task: ExternalTask) -> dict[str, Any]:
    """The task's variables, Json ones parsed, as a Camunda worker reads them."""
    values = {}
    for name in task.get_variables():
        typed = task.get_variable(name, with_meta=True) or {"value": None}
        values[name] = json.loads(typed["value"]) if typed.get("type") == "Json" else typed["value"]
    return values


def typed(variables: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {"value": json.dumps(value), "type": "Json"} if isinstance(value, dict | list) else value
        for name, value in variables.items()
    }


def handler(sandbox_url: str):
    registry = build_registry({"ORDERFLOW_SANDBOX_URL": sandbox_url})
    failed: set[str] = set()

    def handle(task: ExternalTask) -> TaskResult:
        variables = plain(task)
        if variables.get("workerTrouble") == "fail-once" and task.get_task_id() not in failed:
            failed.add(task.get_task_id())
            return task.failure(  # retried after retry_timeout milliseconds
                "the tax service timed out", "read timeout after 10 s", max_retries=2, retry_timeout=200
            )
        context = JobContext(
            job_id=task.get_task_id(),
            idempotency_key=f"camunda-worker-{task.get_task_id()}",
            attempt=1,
            instance_id=task.get_process_instance_id(),
            business_key=task.get_business_key(),
            element_id=task.get_activity_id(),
            topic=task.get_topic_name(),
        )
        try:
            result = registry.get(task.get_topic_name())(variables, context)
        except BusinessError as exc:
            return task.bpmn_error(exc.code, exc.message, {"workerNote": f"{task.get_topic_name()}: {exc.code}"})
        return task.complete(typed(result))

    return handle


def main() -> None:
    url, token, sandbox_url, *topics = sys.argv[1:]
    logging.basicConfig(level=logging.WARNING)
    config = {
        "auth_basic": {"username": "erp-worker", "password": token},
        "maxTasks": 5,
        "lockDuration": 20000,
        "asyncResponseTimeout": 5000,
        "sleepSeconds": 1,
    }
    print("worker subscribing", flush=True)
    ExternalTaskWorker(worker_id="erp-worker-1", base_url=f"{url}/engine-rest", config=config).subscribe(
        topics, handler(sandbox_url)
    )


if __name__ == "__main__":
    main()
