"""The script engine every workflow runs with: SpiffWorkflow's hooks, wired to orderflow's sandbox.

SpiffWorkflow does not serialize its script engine and silently falls back to plain eval/exec after a load,
so the engine step sets this one again on every workflow it loads or creates."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from . import expressions, sandbox


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


class SandboxedScriptEngine(PythonScriptEngine):
    """Errors carry the element and a plain message; they never leak a Python stack to the analyst."""

    def __init__(self) -> None:
        super().__init__(environment=SandboxEnvironment())

    def validate(self, expression: str) -> None:
        expressions.check(expression)

    def evaluate(self, task, expression, external_context=None):
        """Conditions, timer values and mappings, in whichever dialect the analyst wrote them."""
        variables = {**task.data, **external_context} if external_context else task.data
        instance = getattr(task.workflow.top_workflow, "orderflow_instance", None) or {}
        execution = {**instance, "activityId": getattr(task.task_spec, "bpmn_id", None)}
        try:
            return expressions.evaluate(expression, variables, execution=execution)
        except expressions.ExpressionError as err:
            raise WorkflowTaskException(str(err), task=task, exception=err) from err

    def execute(self, task, script, external_context=None):
        if expressions.dialect_of(script or "") != expressions.PYTHON:  # a Camunda 8 zeebe:script (FEEL)
            try:
                value = expressions.evaluate(script, task.data)
            except expressions.ExpressionError as err:
                raise WorkflowTaskException(f"script failed: {err}", task=task, exception=err) from err
            result = (task.task_spec.extensions or {}).get("resultVariable")
            if result:
                task.data[result] = value
            return True
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except sandbox.ExpressionError as err:
            raise WorkflowTaskException(f"script failed: {err}", task=task, exception=err) from err
        except Exception as err:
            raise WorkflowTaskException(f"script failed: {err}", task=task, exception=err) from err
