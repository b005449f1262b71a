"""(a) of `make bench`: SpiffWorkflow alone runs bpmn/order_fulfillment.bpmn in memory, the service tasks completed
inline: spec parsed once, no persistence, no HTTP.

It runs in a process of its own (`python -m bench.plain SECONDS`, one JSON line out), because orderflow's SpiffWorkflow
adapter (processes/core/spiff.py) speeds up a few of the library's methods for every user in its process: had the
bench's own process imported it (through the DMN and monitoring parts), (a) would no longer be plain SpiffWorkflow."""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from pathlib import Path

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.task import TaskState

ROOT = Path(__file__).resolve().parents[1]
DIAGRAM = ROOT / "bpmn" / "order_fulfillment.bpmn"
sys.path.insert(0, str(ROOT))

from app.simulate import make_order  # noqa: E402 - only the order generator: it loads no orderflow engine code


def plain_spiffworkflow(seconds: float) -> dict:
    """Orders per second of SpiffWorkflow alone for about `seconds`."""
    if "processes.core.spiff" in sys.modules:
        raise RuntimeError("orderflow's SpiffWorkflow adapter is loaded: this would not measure plain SpiffWorkflow")
    logging.getLogger("spiff").setLevel(logging.WARNING)
    parser = CamundaParser()
    parser.add_bpmn_file(str(DIAGRAM))
    spec, subprocess_specs = parser.get_spec("order_fulfillment"), parser.get_subprocess_specs("order_fulfillment")
    rng = random.Random(7)
    variables = [make_order(rng) for _ in range(200)]
    orders, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        for order in variables:
            workflow = BpmnWorkflow(spec, subprocess_specs)
            for task in workflow.get_tasks(state=TaskState.READY):
                task.data.update(order)
            workflow.do_engine_steps()
            while not workflow.is_completed():
                for task in workflow.get_tasks(state=TaskState.STARTED):
                    task.data[f"{task.task_spec.bpmn_id}_result"] = "ok"
                    task.complete()
                workflow.do_engine_steps()
        orders += len(variables)
    elapsed = time.perf_counter() - started
    return {
        "orders": orders,
        "seconds": round(elapsed, 3),
        "ordersPerSecond": round(orders / elapsed, 1),
        "cpuMsPerOrder": round((time.process_time() - cpu) * 1000 / orders, 2),
    }


if __name__ == "__main__":
    print(json.dumps(plain_spiffworkflow(float(sys.argv[1]))))
