"""The script engine every workflow runs with: SpiffWorkflow's hooks, wired to orderflow's sandbox.

SpiffWorkflow does not serialize its script engine and silently falls back to plain eval/exec after a load,
so the engine step sets this one again on every workflow it loads or creates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from processes import expressions, limits
from processes.core import spiff
from processes.expressions import python as sandbox
from processes.expressions.beans import Beans, Execution

# In a call activity task's internal data: the business key the call passed its process ({"value": key}).
BUSINESS_KEY = "orderflow.businessKey"


def business_key_of(task, default: str | None) -> str | None:
    """The business key of the process `task` runs in: the one a Camunda 7 call activity passed (or none), else the
    instance's `default`. Embedded subprocesses share their caller's."""
    workflow = task.workflow
    top = workflow.top_workflow
    while workflow is not top:
        caller = _find(top, workflow.parent_task_id)
        if caller is None:
            break
        held = caller.internal_data.get(BUSINESS_KEY)
        if held is not None:
            return held["value"]
        workflow = caller.workflow
    return default


def _find(top, task_id):
    for tasks in (top.tasks, *(sp.tasks for sp in top.subprocesses.values())):
        if task_id in tasks:
            return tasks[task_id]
    return None


class SandboxEnvironment(TaskDataEnvironment):
    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        variables = {**context, **(external_context or {})} if external_context else context
        return sandbox.evaluate(expression, variables)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        if external_context:
            scope = {**context, **external_context}
            sandbox.execute(script, scope)
            for key in external_context:
                scope.pop(key, None)
            context.clear()
            context.update(scope)
        else:
            sandbox.execute(script, context)
        return True

    def call_service(self, context, **kwargs):
        raise RuntimeError("service tasks run as orderflow jobs, never through the script engine")


def execution_of(task, variables: Mapping[str, Any] | None = None, *, writable: bool = False) -> Execution:
    """What JUEL's `execution` is for a task: the instance, with the business key of the process the task runs in
    (a called process has its own, passed by `camunda:in businessKey`), and the task's element."""
    instance = spiff.step_facts(task)
    facts = {
        **instance,
        "businessKey": business_key_of(task, instance.get("businessKey")),
        "activityId": getattr(task.task_spec, "bpmn_id", None),
    }
    return Execution(facts, task.data if variables is None else variables, writable=writable)


class SandboxedScriptEngine(PythonScriptEngine):
    """Errors carry the element and a plain message; they never leak a Python stack to the analyst."""

    def __init__(self, beans: Beans | None = None) -> None:
        super().__init__(environment=SandboxEnvironment())
        self.beans = beans  # what JUEL method calls on bean names reach (processes/expressions/beans.py)

    def validate(self, expression: str) -> None:
        expressions.check(expression)

    def evaluate(self, task, expression, external_context=None):
        """Conditions, timer values and mappings, in whichever dialect the analyst wrote them."""
        variables = {**task.data, **external_context} if external_context else task.data
        try:
            execution = execution_of(task, variables)
            return expressions.evaluate(expression, variables, execution=execution, beans=self.beans)
        except expressions.ExpressionError as err:
            raise WorkflowTaskException(str(err), task=task, exception=err) from err

    def execute(self, task, script, external_context=None):
        if expressions.dialect_of(script or "") != expressions.PYTHON:  # a Camunda 8 zeebe:script (FEEL)
            try:
                with limits.evaluation():
                    value = expressions.evaluate(script, task.data)
            except expressions.ExpressionError as err:
                raise WorkflowTaskException(f"script failed: {err}", task=task, exception=err) from err
            result = (task.task_spec.extensions or {}).get("resultVariable")
            if result:
                task.data[result] = value
            return True
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except sandbox.SandboxError as err:
            if err.budget:  # name the script whose budget it was (the element is named by the incident)
                err = sandbox.SandboxError(f"{expressions.named(script)}: {err}", script, err.lineno, err.budget)
            raise WorkflowTaskException(f"script failed: {err}", task=task, exception=err) from err
        except Exception as err:
            raise WorkflowTaskException(f"script failed: {err}", task=task, exception=err) from err
