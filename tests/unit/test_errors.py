"""One exception tree: every exception class of processes/ and inbox/ derives from OrderflowError, has a name of its
own, answers with exactly one problem+json status, and is drawn in processes/errors.py's docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from flask import Flask

import inbox
import processes
from processes import errors
from processes.errors import InternalError, OrderflowError, Problem

PACKAGES = (processes, inbox)

# Statuses the API answered with before the tree existed: they must not change.
API_STATUSES = {
    "OrderflowError": 400,
    "NotFound": 404,
    "InvalidInput": 422,
    "FormInvalid": 422,
    "DmnParseError": 422,
    "DmnDecisionError": 422,
    "DeploymentRejected": 422,
    "Conflict": 409,
    "AlreadyResolved": 409,
    "Forbidden": 403,
    "TooLarge": 413,
}

# Constructors that take more than a message; every other class is built as cls("boom").
SPECIAL_ARGS = {
    "DeploymentRejected": lambda: ([Problem("boom")],),
    "DmnParseError": lambda: ("pricing.dmn", [Problem("boom")]),
    "FormInvalid": lambda: ({"amount": ["boom"]},),
    "ExpressionError": lambda: ("boom", "python"),
    "JobNeedsReview": lambda: ("MISMATCH", "boom", {"amount": 1}, {"amount": 2}),
    "BpmnErrorThrown": lambda: ("OUT_OF_STOCK", "boom"),
    "ReplayFailed": lambda: (ValueError("boom"), "dl-1"),
}


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
        names = [package.__name__] + [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
        for name in names:
            module = importlib.import_module(name)
            for value in vars(module).values():
                if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name:
                    found[f"{name}.{value.__qualname__}"] = value
    return [found[key] for key in sorted(found)]


CLASSES = _exception_classes()


def _ids(classes):
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in classes]


def _tree() -> dict[str, tuple[int, str | None]]:
    """name -> (status, parent name) as drawn in processes/errors.py's docstring."""
    drawn: dict[str, tuple[int, str | None]] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name) of the open branches
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(\s+(?:[│├└─ ]*))(\w+)\s+(\d{3})\s", line)
        if not match:
            continue
        column, name, status = len(match.group(1)), match.group(2), int(match.group(3))
        while stack and stack[-1][0] >= column:
            stack.pop()
        drawn[name] = (status, stack[-1][1] if stack else None)
        stack.append((column, name))
    return drawn


def test_every_module_was_searched_and_the_tree_has_its_known_members() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {"OrderflowError", "FeelError", "JobFailed", "FormInvalid", "_NotWaiting"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=_ids(CLASSES))
def test_every_exception_derives_from_orderflow_error(cls) -> None:
    assert issubclass(cls, OrderflowError)


def test_no_two_exceptions_have_the_same_name() -> None:
    by_name: dict[str, list[str]] = {}
    for cls, key in zip(CLASSES, _ids(CLASSES), strict=True):
        by_name.setdefault(cls.__name__, []).append(key)
    assert {name: keys for name, keys in by_name.items() if len(keys) > 1} == {}


def test_the_docstring_draws_every_class_with_its_parent_and_status() -> None:
    drawn = _tree()
    assert sorted(drawn) == sorted(cls.__name__ for cls in CLASSES)
    for cls in CLASSES:
        parent = None if cls is OrderflowError else cls.__bases__[0].__name__
        assert drawn[cls.__name__] == (cls.status, parent), cls


def test_the_statuses_the_api_answered_with_are_kept() -> None:
    by_name = {cls.__name__: cls for cls in CLASSES}
    assert {name: by_name[name].status for name in API_STATUSES} == API_STATUSES


def test_internal_errors_are_500s() -> None:
    for cls in CLASSES:
        if issubclass(cls, InternalError):
            assert cls.status == 500, cls


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    from app import create_app

    data = tmp_path_factory.mktemp("errors")
    app = create_app(
        {
            "ORDERFLOW_DATA_DIR": str(data),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(data) / 'orderflow.db'}",
            "ORDERFLOW_API_TOKEN": "t",
            "ORDERFLOW_DEPLOY_SHIPPED": False,
            "ORDERFLOW_EMBEDDED_WORKERS": False,
        }
    )
    app.config["PROPAGATE_EXCEPTIONS"] = False  # an internal error answers as it would in production
    raised: dict[str, BaseException] = {}

    @app.get("/raise/<name>")
    def _raise(name: str):
        raise raised[name]

    app.extensions["test_errors"] = raised
    return app


def _build(cls: type[OrderflowError]) -> OrderflowError:
    args = SPECIAL_ARGS.get(cls.__name__, lambda: ("boom",))()
    return cls(*args)


@pytest.mark.parametrize("cls", CLASSES, ids=_ids(CLASSES))
def test_every_exception_answers_with_its_problem(app: Flask, cls) -> None:
    error = _build(cls)
    app.extensions["test_errors"][cls.__name__] = error
    response = app.test_client().get(f"/raise/{cls.__name__}")
    assert response.status_code == cls.status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == cls.status
    if cls.status < 500:
        assert (body["type"], body["title"], body["detail"]) == (cls.type, cls.title, error.detail)
        assert "boom" in body["detail"]
    else:  # internal: a bug if it gets here, answered like any unexpected exception, without its detail
        assert body["title"] == "Internal Server Error" and "boom" not in body["detail"]
