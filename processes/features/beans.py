"""Service tasks that call registered beans (`camunda:expression="${bean.method(execution)}"`) run inside the
engine step, as Camunda runs them; see `processes.expressions.beans` for how beans are registered."""

from __future__ import annotations

from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.task import TaskState

from processes import expressions
from processes.core.engine import JOB_KEY
from processes.core.feature import Feature
from processes.core.spiff import data_changed, tasks_in
from processes.core.step import Step
from processes.expressions.beans import Beans, missing
from processes.expressions.script_engine import execution_of


def run_service_tasks(step: Step) -> bool:
    """Within a step: run the service tasks that were reached and whose `camunda:expression` calls only registered
    beans, as Camunda runs them: in the step, setting what the bean set on `execution` and `camunda:resultVariable`.
    A service task whose beans are not registered stays an external-worker job (its topic is the expression). A
    failing bean is an incident on the task; retrying it calls the bean again. Returns whether any task ran."""
    beans = step.engine.settings.beans
    if not beans:
        return False
    ran = False
    for task in tasks_in(step.workflow, TaskState.STARTED):
        extensions = getattr(task.task_spec, "extensions", None) or {}
        expression = extensions.get("expression")
        if not isinstance(task.task_spec, ServiceTask) or JOB_KEY in task.internal_data or not expression:
            continue
        if extensions.get("topic") or not runs_on(expression, beans):
            continue
        execution = execution_of(task, writable=True)
        try:
            value = expressions.evaluate(expression, task.data, execution=execution, beans=beans)
        except expressions.ExpressionError as exc:
            task.error()
            step.open_incident("engine_error", f"{task.task_spec.bpmn_id}: {exc}", task=task)
            return ran
        task.data.update(execution.changed)
        if extensions.get("resultVariable"):
            task.data[extensions["resultVariable"]] = expressions.plain(value)
        task.complete()
        step.record("element_completed", task, data_changed(task) or None)
        ran = True
    return ran


def runs_on(expression: str, beans: Beans) -> bool:
    """Whether an expression calls beans, all of them registered."""
    try:
        calls = expressions.bean_calls(expression)
    except expressions.ExpressionError:
        return False
    return bool(calls) and not missing(calls, beans)


class BeanCalls(Feature):
    """Runs service tasks whose expression calls only registered beans; others stay external-worker jobs."""

    def settle(self, step: Step) -> bool:
        return run_service_tasks(step)
