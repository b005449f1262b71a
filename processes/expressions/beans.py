"""Beans: Python functions an integrator registers, so that Camunda 7 diagrams calling Java beans run unchanged.

A Camunda 7 diagram may call the application's beans from JUEL: `${orderBusinessLogic.getOrder(orderId).approved}`
in a gateway condition, `camunda:expression="${orderBusinessLogic.persistOrder(execution)}"` on a service task.
orderflow runs no Java and never reaches an object's attributes from an expression. Instead the integrator registers,
per bean name, the methods that exist, each a plain Python callable:

    beans = {"orderBusinessLogic": {"getOrder": get_order, "persistOrder": persist_order}}
    build_engine(session_factory, settings=EngineSettings(beans=beans))  # app.features

A JUEL method call on a registered bean calls exactly that function; any other name is an error. Arguments are the
expression's values (`execution` arrives as an `Execution`); a bean returns plain data (None, booleans, numbers,
text, dates, lists and dicts of those), which the expression then reads like a variable.

Beans run inside the engine step, as Camunda runs them inside its transaction: keep them quick and local (look-ups,
calculations). Calls to other systems belong in connectors or external workers, which run outside any step.

A server finds beans in two places (`load`): the `orderflow.beans` entry point group (entry point name = bean name,
value = its mapping of method names to callables) and `ORDERFLOW_BEANS`, a comma-separated list of
`module:attribute` paths, each naming a mapping of bean names to such mappings."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

from processes.errors import OrderflowError
from processes.expressions.python import is_variable_name

# Bean name -> method name -> the function that method runs.
Beans = Mapping[str, Mapping[str, Callable[..., Any]]]

ENTRY_POINT_GROUP = "orderflow.beans"


class BeanError(OrderflowError):
    """A bean is missing, misconfigured or failed. str() is a one-line message for an analyst or operator."""

    status = 500
    title = "Bean failed"


class Execution(Mapping):
    """What a bean receives for JUEL's `execution` (Camunda's DelegateExecution, the parts that make sense here).

    It reads like the dict of instance facts (`processInstanceId`, `businessKey`, `activityId`) and also offers
    the process variables. A bean that a service task calls may set variables (`set_variable`); they reach the
    process when the task completes. In a condition the execution is read-only, as conditions must not change
    variables."""

    def __init__(self, facts: Mapping[str, Any], variables: Mapping[str, Any], *, writable: bool = False):
        self._facts = dict(facts)
        self._variables = variables
        self._writable = writable
        self.changed: dict[str, Any] = {}

    # The Mapping of instance facts, as JUEL's `${execution.businessKey}` reads it.
    def __getitem__(self, key: str) -> Any:
        return self._facts[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._facts)

    def __len__(self) -> int:
        return len(self._facts)

    @property
    def process_instance_id(self) -> str | None:
        return self._facts.get("processInstanceId")

    @property
    def business_key(self) -> str | None:
        return self._facts.get("businessKey")

    @property
    def activity_id(self) -> str | None:
        return self._facts.get("activityId")

    @property
    def variables(self) -> dict[str, Any]:
        """A copy of the variables as the bean sees them (with its own changes)."""
        return {**self._variables, **self.changed}

    def get_variable(self, name: str) -> Any:
        return self.changed[name] if name in self.changed else self._variables.get(name)

    def set_variable(self, name: str, value: Any) -> None:
        if not self._writable:
            raise BeanError(f"cannot set variable '{name}' here: conditions must not change variables")
        if not isinstance(name, str) or not is_variable_name(name):
            raise BeanError(f"variable name {name!r} is not allowed")
        self.changed[name] = value

    # Camunda's Java names, so a bean ported from Java reads naturally.
    getVariable = get_variable  # noqa: N815
    setVariable = set_variable  # noqa: N815

    def getBusinessKey(self) -> str | None:  # noqa: N802
        return self.business_key

    def getProcessBusinessKey(self) -> str | None:  # noqa: N802
        return self.business_key

    def getProcessInstanceId(self) -> str | None:  # noqa: N802
        return self.process_instance_id

    def getCurrentActivityId(self) -> str | None:  # noqa: N802
        return self.activity_id


def check_beans(beans: Beans | None) -> dict[str, dict[str, Callable[..., Any]]]:
    """The beans as plain dicts, after checking their shape; BeanError names what is wrong."""
    checked: dict[str, dict[str, Callable[..., Any]]] = {}
    for name, methods in (beans or {}).items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise BeanError(f"bean name {name!r} is not allowed: use letters, digits and underscores")
        if not isinstance(methods, Mapping):
            raise BeanError(
                f"bean '{name}' must be a mapping of method names to functions, not {type(methods).__name__}"
            )
        for method, function in methods.items():
            if not isinstance(method, str) or not method.isidentifier() or method.startswith("_"):
                raise BeanError(f"bean '{name}': method name {method!r} is not allowed")
            if not callable(function):
                raise BeanError(f"bean '{name}': method '{method}' is not callable")
        checked[name] = dict(methods)
    return checked


def load(paths: str | None = None, *, group: str = ENTRY_POINT_GROUP) -> dict[str, dict[str, Callable[..., Any]]]:
    """Beans from the entry point group and from `paths` (`ORDERFLOW_BEANS`: "module:attribute,..."). Later
    sources replace earlier beans of the same name."""
    found: dict[str, Any] = {}
    for entry in entry_points(group=group):
        found[entry.name] = entry.load()
    for path in (p.strip() for p in (paths or "").split(",")):
        if not path:
            continue
        module_name, _, attribute = path.partition(":")
        if not module_name or not attribute:
            raise BeanError(f"ORDERFLOW_BEANS entry '{path}' must be 'module:attribute'")
        try:
            value = importlib.import_module(module_name)
            for part in attribute.split("."):
                value = getattr(value, part)
        except (ImportError, AttributeError) as exc:
            raise BeanError(f"ORDERFLOW_BEANS entry '{path}' cannot be loaded: {exc}") from exc
        if not isinstance(value, Mapping):
            raise BeanError(f"ORDERFLOW_BEANS entry '{path}' must name a mapping of bean names to method mappings")
        found.update(value)
    return check_beans(found)


def missing(calls: list[tuple[str, str]], beans: Beans | None) -> list[tuple[str, str]]:
    """The (bean, method) calls that `beans` cannot answer."""
    beans = beans or {}
    return [(bean, method) for bean, method in calls if method not in (beans.get(bean) or {})]
