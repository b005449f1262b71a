"""REST API v1: one blueprint per area."""

from apiflask import APIFlask


def register_blueprints(app: APIFlask) -> None:
    from . import decisions, deployments, docs, health, incidents, instances, jobs, messages, people, spec, tasks

    app.spec_processor(spec.document)
    docs.register(app)  # Swagger UI's files served from here, not a CDN

    app.register_blueprint(deployments.bp)
    app.register_blueprint(instances.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(decisions.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(incidents.dead_letters_bp)
    app.register_blueprint(people.bp)
    from .modeling import bp as modeling  # lint, version history, diffs, decisions, topics for modeling tools

    app.register_blueprint(modeling)
    from .monitoring import bp as monitoring  # metrics, audit trail, /metrics for Prometheus

    app.register_blueprint(monitoring)
    from ..camunda import register as register_camunda  # /engine-rest and /v2: Camunda's REST for its clients

    register_camunda(app)
    from .operations import bp as operations  # variables, suspend/resume, modification, migration, batches

    app.register_blueprint(operations)
    from .prediction import bp as prediction  # forecast, capacity advice, orders at risk

    app.register_blueprint(prediction)
