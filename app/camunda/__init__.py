"""Camunda's REST APIs over orderflow, so Camunda workers and clients run unchanged: Camunda 7's engine REST at
/engine-rest (engine_rest.py) and Camunda 8's job-worker and start calls at /v2 (v2.py). Both are thin shells over
the functions /api/v1 uses; values.py converts Camunda 7's typed variables and access.py checks the caller."""

from apiflask import APIFlask


def register(app: APIFlask) -> None:
    from . import engine_rest, v2

    app.register_blueprint(engine_rest.bp)
    app.register_blueprint(v2.bp)
