"""The `orderflow` command: serve, deploy, lint, start, simulate, sandbox."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click
import requests

from connectors.errors import ConfigurationError
from observability import logs

from .config import DEV_TOKEN
from .simulate import NoAnswer

if TYPE_CHECKING:
    from .simulate_realistic import RealisticResult


def _url() -> str:
    return os.environ.get("ORDERFLOW_URL") or f"http://127.0.0.1:{os.environ.get('ORDERFLOW_PORT', '8080')}"


def _token() -> str:
    return os.environ.get("ORDERFLOW_API_TOKEN") or DEV_TOKEN


url_option = click.option("--url", default=_url, show_default="$ORDERFLOW_URL or http://127.0.0.1:$ORDERFLOW_PORT")
token_option = click.option("--token", default=_token, show_default="$ORDERFLOW_API_TOKEN or the development token")


@click.group()
def main() -> None:
    """orderflow: run BPMN order workflows."""


def _start_sandbox(sandbox_url: str, port: int) -> subprocess.Popen | None:
    """Start the sandbox systems unless something already answers there."""
    try:
        if requests.get(f"{sandbox_url}/health", timeout=(0.5, 1)).ok:
            click.echo(f"sandbox systems already running at {sandbox_url}")
            return None
    except requests.RequestException:
        pass
    process = subprocess.Popen(
        [sys.executable, "-m", "connectors.sandbox", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    if "listening" not in line:
        process.kill()
        raise click.ClickException(f"the sandbox systems did not start on port {port}: {line.strip()}")
    click.echo(f"sandbox systems (payment, warehouse, customs, tax, carrier, customer messaging) at {sandbox_url}")
    return process


@main.command()
def serve() -> None:
    """Prepare the database (migrations, shipped workflows, demo people), then run the server: REST API, embedded
    workers and (by default) the sandbox systems, in ORDERFLOW_PROCESSES engine processes on one port."""
    from .config import from_environment
    from .serving import ProcessesSettingError, listening_socket, process_count

    config = from_environment()
    logs.configure()  # plain lines, or JSON lines with ORDERFLOW_LOG_FORMAT=json
    logging.getLogger("spiff").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        processes = process_count(config["ORDERFLOW_PROCESSES"])
    except ProcessesSettingError as exc:
        raise click.ClickException(str(exc)) from exc
    host, port = config["ORDERFLOW_HOST"], config["ORDERFLOW_PORT"]
    try:  # first: a port that is taken is said before any set-up runs
        sock = listening_socket(host, port)
    except OSError as exc:  # the port is taken (another orderflow?) or the host is not this machine's
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sandbox = None
    if config["ORDERFLOW_SANDBOX"]:
        sandbox = _start_sandbox(config["ORDERFLOW_SANDBOX_URL"], config["ORDERFLOW_SANDBOX_PORT"])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # run the finally below on `kill`
    try:
        if processes == 1:
            _serve_here(config, sock)
        else:
            _serve_in_processes(config, sock, processes)
    except ConfigurationError as exc:  # a connector setting that cannot work (a URL, a timeout, the transport)
        raise click.ClickException(f"connectors: {exc}") from exc
    finally:
        sock.close()
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(5)


def _announce(config, host: str, port: int, processes: int = 1) -> None:
    if config["ORDERFLOW_USING_DEV_TOKEN"]:
        click.echo(f"API token (development default, set ORDERFLOW_API_TOKEN to change): {DEV_TOKEN}")
    across = f", {processes} engine processes" if processes > 1 else ""
    click.echo(f"orderflow listening on http://{host}:{port} (API docs: http://{host}:{port}/api/v1/docs{across})")
    sys.stdout.flush()


def _server_threads(config) -> int:
    # Long polls of external workers (Camunda's fetchAndLock, job activation) wait on threads of their own, so they
    # never take the threads the rest of the API answers on.
    return 8 + config["ORDERFLOW_LONG_POLLS"]


def _serve_here(config, sock) -> None:
    """ORDERFLOW_PROCESSES=1: prepare, then serve from this process."""
    from . import create_app
    from .collector import settle_after_start_up
    from .serving import serve_in_this_process
    from .setup import prepare

    app = create_app()
    prepare(app)  # once, before serving: migrations, the shipped workflows, the demo people
    app.extensions["orderflow"].start_workers()
    server = serve_in_this_process(app, sock, threads=_server_threads(config))
    _announce(config, config["ORDERFLOW_HOST"], sock.getsockname()[1])  # the real port when ORDERFLOW_PORT=0 (tests)
    # Start-up objects live as long as the process: out of the collector's way before the first order.
    settle_after_start_up()
    server.run()


def _serve_in_processes(config, sock, processes: int) -> None:
    """Prepare once here, then run the engine processes on one socket and keep them running (app/serving.py)."""
    from . import create_app
    from .serving import EngineProcesses
    from .setup import prepare, sql_engine_for

    sql_engine_for(config).dispose()  # creates the data directory the default SQLite file lives in
    from .extensions import db

    app = create_app({**config, "ORDERFLOW_EMBEDDED_WORKERS": False})  # nothing runs here but the set-up
    prepare(app)
    with app.app_context():
        db.engine.dispose()  # the engine processes open their own connections
    engines = EngineProcesses(processes, sock)
    try:
        try:
            engines.start()
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
        _announce(config, config["ORDERFLOW_HOST"], sock.getsockname()[1], processes)
        try:
            engines.watch()
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
    finally:
        engines.stop()


@main.command("serve-process", hidden=True)
@click.option("--socket-fd", type=int, required=True, help="the listening socket the supervisor hands down")
@click.option("--ready-fd", type=int, required=True, help="written to once this process listens")
@click.option("--index", type=int, default=0, help="which of the engine processes this is (log lines)")
@click.option("--inbox-fd", type=int, default=None, help="this process's socket for the others' messages")
@click.option("--siblings", default="", help="every process's message socket, in order, separated by os.pathsep")
@click.option("--load-board", default=None, help="the file where each process tells how many jobs it has on hand")
def serve_process(
    socket_fd: int, ready_fd: int, index: int, inbox_fd: int | None, siblings: str, load_board: str | None
) -> None:
    """One engine process of `orderflow serve` (app/serving.py): REST API and job threads on the supervisor's
    socket. The supervisor has prepared the database already."""
    import socket

    from . import create_app
    from .collector import settle_after_start_up
    from .config import from_environment
    from .serving import HomeDispatcher, LoadBoard, Siblings, serve_in_this_process

    config = from_environment()
    logs.configure()
    logging.getLogger("spiff").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Ctrl-C reaches the whole process group: the supervisor stops the engine processes (SIGTERM), without a
    # traceback from each of them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    app = create_app()
    services = app.extensions["orderflow"]
    if inbox_fd is not None:
        others = Siblings(socket.socket(fileno=inbox_fd), index, siblings.split(os.pathsep))
        services.arrivals.tell_others = others.tell
        carriers = services.connectors.carriers  # each order's carrier choice sees every process's bookings
        carriers.share = lambda record: others.broadcast(b"C", json.dumps(record).encode())
        others.on(b"C", lambda payload: carriers.absorb(json.loads(payload)))
        if services.runner is not None:  # jobs run in threads of the server: each order's in its home process
            paths = siblings.split(os.pathsep)
            board = LoadBoard(load_board, len(paths)) if load_board else None
            runner = services.runner
            services.engine.dispatcher = HomeDispatcher(
                services.engine.dispatcher, others, board, lambda: runner.backlog
            )
            others.listen(lambda: services.arrivals.announce(elsewhere=False), services.runner.run_claimed)
        else:
            others.listen(lambda: services.arrivals.announce(elsewhere=False), lambda jobs: None)
    services.start_workers()
    sock = socket.socket(fileno=socket_fd)
    server = serve_in_this_process(app, sock, threads=_server_threads(config))
    try:
        os.write(ready_fd, b"1")
        os.close(ready_fd)
    except OSError:  # a restarted process: nobody waits for it
        pass
    settle_after_start_up()
    server.run()


@main.command()
@click.option("--concurrency", type=int, default=None, help="worker processes (default: one per core)")
@click.option("--pool", type=click.Choice(["prefork", "threads", "solo"]), default="prefork", show_default=True)
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--hostname", default=None, help="worker name, unique per machine (Celery's -n), e.g. w1@%h")
def worker(concurrency: int | None, pool: str, loglevel: str, hostname: str | None) -> None:
    """Run Celery workers for jobs (needs ORDERFLOW_BROKER_URL and usually ORDERFLOW_DATABASE_URL)."""
    from .config import from_environment
    from .worker import celery

    config = from_environment()
    logs.configure(level=getattr(logging, loglevel.upper(), logging.INFO))  # Celery leaves the root logger alone
    logging.getLogger("spiff").setLevel(logging.WARNING)
    if not config["ORDERFLOW_BROKER_URL"]:
        raise click.ClickException("set ORDERFLOW_BROKER_URL (redis://... or amqp://...) to run workers")
    _require_schema(config)
    argv = ["worker", "--queues", config["ORDERFLOW_QUEUE"], "--pool", pool, "--loglevel", loglevel]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    if hostname:
        argv += ["--hostname", hostname]
    celery.worker_main(argv)


@main.command()
@click.option("--interval", default=0.5, show_default=True, help="seconds between sweeps")
@click.option("--resend-after", default=10.0, show_default=True, help="seconds at least between two sends of one job")
@click.option("--max-per-sweep", default=200, show_default=True, help="jobs sent at most per sweep")
def scheduler(interval: float, resend_after: float, max_per_sweep: int) -> None:
    """Send due timers, retries and jobs of dead workers to the broker (the outbox sweep). Several may run."""
    from .config import from_environment
    from .worker import run_scheduler

    config = from_environment()
    logs.configure()
    if not config["ORDERFLOW_BROKER_URL"]:
        raise click.ClickException("set ORDERFLOW_BROKER_URL (redis://... or amqp://...) to run the scheduler")
    _require_schema(config)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    click.echo(f"orderflow scheduler sweeping every {interval}s", err=True)
    run_scheduler(interval=interval, resend_after_seconds=resend_after, limit=max_per_sweep)


def _require_schema(config) -> None:
    """Workers and schedulers never migrate: on a database without the schema they stop and say what to run."""
    from .setup import check_schema

    if problem := check_schema(config):
        raise click.ClickException(problem)


@main.command()
def migrate() -> None:
    """Prepare the database once before web processes start: migrations, the shipped workflows
    (ORDERFLOW_DEPLOY_SHIPPED) and the demo people (ORDERFLOW_DEMO_USERS). `orderflow serve` does it itself."""
    from . import create_app
    from .config import from_environment
    from .setup import prepare, sql_engine_for

    config = from_environment()
    config["ORDERFLOW_EMBEDDED_WORKERS"] = False  # nothing runs here but the set-up
    sql_engine_for(config).dispose()  # creates the data directory the default SQLite file lives in
    prepare(create_app(config))
    click.echo("database is up to date")


def _local_engine():
    """The engine on the configured database, for commands run on the server machine (people, tokens); it
    migrates first, as they may be the first thing run on a new installation."""
    from app.features import build_engine
    from processes.core.db import make_session_factory

    from .config import from_environment
    from .setup import migrate as apply_migrations
    from .setup import sql_engine_for

    sql_engine = sql_engine_for(from_environment())
    apply_migrations(sql_engine)
    return build_engine(make_session_factory(sql_engine))


def _domain_call(function, *args, **kwargs):
    from processes.errors import InternalError, OrderflowError

    try:
        return function(*args, **kwargs)
    except InternalError:
        raise  # a bug, not an answer: its traceback says where
    except OrderflowError as exc:
        raise click.ClickException(exc.detail) from exc


@main.group()
def user() -> None:
    """People: add users and service accounts, list them, change roles, groups and passwords."""


@user.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, help="admin, analyst, approver, operator or integrator (repeatable)")
@click.option("--group", "groups", multiple=True, help="a group the user belongs to (repeatable)")
@click.option("--password", default=None, help="prompted for when not given (not for --service)")
@click.option("--service", is_flag=True, help="a service account: API tokens only, no password, no login")
@click.option("--name", "display_name", default=None, help="the name shown in the pages")
@click.option("--email", default=None)
def user_add(
    username: str,
    roles: tuple[str, ...],
    groups: tuple[str, ...],
    password: str | None,
    service: bool,
    display_name: str | None,
    email: str | None,
) -> None:
    """Add a user (or a service account with --service)."""
    from processes import identity

    if not service and password is None:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    added = _domain_call(
        identity.add_user, _local_engine(), username, password=password, roles=roles, groups=groups,
        display_name=display_name, email=email, service=service,
    )  # fmt: skip
    kind = "service account" if service else "user"
    click.echo(f"added {kind} {added['username']}: roles {', '.join(added['roles']) or '-'}, "
               f"groups {', '.join(added['groups']) or '-'}")  # fmt: skip


@user.command("set")
@click.argument("username")
@click.option("--role", "roles", multiple=True, help="replaces the user's roles (repeatable)")
@click.option("--group", "groups", multiple=True, help="replaces the user's groups (repeatable)")
@click.option("--password", is_flag=True, help="prompt for a new password")
@click.option("--active/--inactive", default=None, help="an inactive user cannot log in and their tokens stop working")
def user_set(username: str, roles: tuple[str, ...], groups: tuple[str, ...], password: bool, active) -> None:
    """Change a user's roles, groups, password or whether they are active."""
    from processes import identity

    new_password = click.prompt("password", hide_input=True, confirmation_prompt=True) if password else None
    changed = _domain_call(
        identity.update_user, _local_engine(), username, password=new_password, roles=roles or None,
        groups=groups or None, active=active,
    )  # fmt: skip
    state = "active" if changed["active"] else "inactive"
    click.echo(f"{changed['username']}: roles {', '.join(changed['roles']) or '-'}, "
               f"groups {', '.join(changed['groups']) or '-'}, {state}")  # fmt: skip


@user.command("list")
def user_list() -> None:
    """Everyone, with their roles and groups."""
    from processes import identity

    for person in identity.list_users(_local_engine()):
        kind = " (service)" if person["service"] else ""
        state = "" if person["active"] else " [inactive]"
        click.echo(f"{person['username']}{kind}{state}\troles: {', '.join(person['roles']) or '-'}"
                   f"\tgroups: {', '.join(person['groups']) or '-'}")  # fmt: skip


@main.group()
def token() -> None:
    """API tokens for users and service accounts."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="what the token is for")
@click.option("--days", type=int, default=None, help="expires after this many days (default: never)")
def token_create(username: str, name: str, days: int | None) -> None:
    """Create an API token and print it (it is shown once; only a hash is kept)."""
    from processes import identity

    created = _domain_call(identity.create_token, _local_engine(), username, name, days=days)
    click.echo(created["token"])
    click.echo(f"token {created['id']} for {username} ({name}); use it as 'Authorization: Bearer <token>'", err=True)


@token.command("list")
@click.argument("username")
def token_list(username: str) -> None:
    """A user's tokens (their ids and first characters, never the tokens)."""
    from processes import identity

    for item in _domain_call(identity.list_tokens, _local_engine(), username):
        state = f"revoked {item['revokedAt']}" if item["revokedAt"] else "active"
        click.echo(f"{item['id']}\t{item['prefix']}…\t{item['name']}\t{state}")


@token.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token: it stops working at once."""
    from processes import identity

    revoked = _domain_call(identity.revoke_token, _local_engine(), token_id)
    click.echo(f"revoked token {revoked['id']} of {revoked['username']}")


@main.command()
def sandbox() -> None:
    """Run only the sandbox systems: payment, warehouse, customs, tax, carrier, customer messaging (port
    $ORDERFLOW_SANDBOX_PORT)."""
    from connectors.sandbox.__main__ import main as sandbox_main

    sandbox_main(["--host", "127.0.0.1", "--port", os.environ.get("ORDERFLOW_SANDBOX_PORT", "8081")])


def _fail(response: requests.Response) -> None:
    try:
        body = response.json()
        detail = body.get("detail") or body
        problems = body.get("problems") or []
    except ValueError:
        detail, problems = response.text, []
    lines = [f"HTTP {response.status_code}: {detail}"]
    lines += [f"  - {p.get('elementId') or '-'} ({p.get('elementType') or '-'}): {p['message']}" for p in problems]
    raise click.ClickException("\n".join(lines))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@url_option
@token_option
def deploy(files: tuple[Path, ...], url: str, token: str) -> None:
    """Deploy .bpmn / .dmn files to a running server."""
    upload = [("files", (f.name, f.read_bytes(), "application/xml")) for f in files]
    response = requests.post(
        f"{url}/api/v1/deployments", files=upload, headers={"Authorization": f"Bearer {token}"}, timeout=(5, 60)
    )
    if not response.ok:
        _fail(response)
    body = response.json()
    for d in body["definitions"]:
        click.echo(f"{d['key']} version {d['version']}" + ("" if d["isNew"] else " (unchanged)"))
    for w in body["warnings"]:
        click.echo(f"warning: {w['elementId']}: {w['message']}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def lint(files: tuple[Path, ...]) -> None:
    """Lint .bpmn / .dmn files offline, as a deployment would: no server, no database.

    The files are read together, so call activities and business rule tasks may refer to each other; a reference
    to a process or decision not in the files is a warning (it may be deployed already). Prints each problem as
    FILE:LINE: error|warning: ELEMENT_ID (ELEMENT_TYPE): message. Exits 1 when there is an error."""
    from app.features import default_features
    from processes.core import EngineSettings
    from processes.deployment.deployments import lint_files
    from processes.errors import Problem

    errors: list[Problem] = []
    readable: list[tuple[str, bytes]] = []
    for path in files:
        data = path.read_bytes()
        problem = _unreadable(str(path), data)
        if problem is None:
            readable.append((str(path), data))
        else:
            errors.append(problem)
    warnings: list[Problem] = []
    if readable:
        found, warnings, _parsed = lint_files(readable, features=default_features(EngineSettings()))
        errors += found
    order = {str(path): i for i, path in enumerate(files)}
    for problem in sorted(errors + warnings, key=lambda p: (order.get(p.file or "", len(order)), p.line or 0)):
        click.echo(_format_problem(problem))
    click.echo(f"{len(files)} file(s): {len(errors)} error(s), {len(warnings)} warning(s)", err=True)
    if errors:
        sys.exit(1)


def _unreadable(name: str, data: bytes):
    """A file that is not safe, well-formed BPMN or DMN XML (or a Camunda Form), as a problem; None when readable."""
    from processes.deployment.forms import is_form_file, load_form
    from processes.deployment.parser import MAX_FILE_BYTES, load_xml
    from processes.errors import InvalidInput, Problem, TooLarge

    try:
        load_form(name, data, MAX_FILE_BYTES) if is_form_file(name) else load_xml(name, data)
    except (InvalidInput, TooLarge) as exc:
        message = exc.detail.removeprefix(f"{name}: ")
        return Problem(message=message, file=name, line=getattr(exc.__cause__, "lineno", None))
    return None


def _format_problem(problem) -> str:
    """FILE:LINE: error|warning: ELEMENT_ID (ELEMENT_TYPE): ELEMENT_NAME: message, leaving out what is not known
    (the name is how a person calls the element: "the flow from 'Check stock' to 'Ship'")."""
    location = ":".join(str(part) for part in (problem.file, problem.line) if part) or "orderflow"
    element = ""
    if problem.element_id:
        kind = f" ({problem.element_type})" if problem.element_type else ""
        # The name only where it says more than the id (a label, or a flow's two ends).
        named = problem.element_name and f"'{problem.element_id}'" not in problem.element_name
        name = f"{problem.element_name}: " if named else ""
        element = f"{problem.element_id}{kind}: {name}"
    return f"{location}: {problem.severity}: {element}{problem.message}"


def _post_and_print(url: str, token: str, path: str, body: dict, version: int | None = None) -> None:
    response = requests.post(
        f"{url}/api/v1{path}",
        params={"version": version} if version else None,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=(5, 60),
    )
    if not response.ok:
        _fail(response)
    click.echo(json.dumps(response.json(), indent=2))


def _parse_var(text: str) -> tuple[str, object]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"{text!r}: write variables as name=value")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw  # not JSON: a plain string


@main.command()
@click.argument("key")
@click.option("--var", "variables", multiple=True, help="name=value; the value is JSON if it parses, else text")
@click.option("--business-key", default=None)
@click.option("--version", type=int, default=None)
@url_option
@token_option
def start(
    key: str, variables: tuple[str, ...], business_key: str | None, version: int | None, url: str, token: str
) -> None:
    """Start an instance of process KEY."""
    body = {"variables": dict(_parse_var(v) for v in variables)}
    if business_key:
        body["businessKey"] = business_key
    _post_and_print(url, token, f"/process-definitions/{key}/instances", body, version)


@main.command()
@click.argument("key")
@click.option("--var", "variables", multiple=True, help="name=value; the value is JSON if it parses, else text")
@click.option("--version", type=int, default=None)
@url_option
@token_option
def decide(key: str, variables: tuple[str, ...], version: int | None, url: str, token: str) -> None:
    """Evaluate decision KEY (a DMN decision id) and print its result and matched rules."""
    _post_and_print(
        url, token, f"/decisions/{key}/evaluate", {"variables": dict(_parse_var(v) for v in variables)}, version
    )


@main.command()
@click.option("--orders", default=100, show_default=True)
@click.option("--concurrency", default=4, show_default=True)
@click.option("--process", "process_key", default="order_fulfillment", show_default=True)
@click.option("--invalid-share", default=0.05, show_default=True, help="share of orders that fail validation")
@click.option(
    "--profile",
    type=click.Choice(["basic", "realistic"]),
    default="basic",
    show_default=True,
    help="basic: straight orders through --process, for throughput; realistic: the order story's mix, with people "
    "working the inbox and the sandbox misbehaving",
)
@click.option(
    "--sandbox-url",
    default=lambda: _sandbox_url(),
    show_default="$ORDERFLOW_SANDBOX_URL or http://127.0.0.1:$ORDERFLOW_SANDBOX_PORT (8081)",
    help="the sandbox systems whose /_control the realistic profile uses",
)
@url_option
@token_option
def simulate(
    orders: int,
    concurrency: int,
    process_key: str,
    invalid_share: float,
    profile: str,
    sandbox_url: str,
    url: str,
    token: str,
) -> None:
    """Push N varied orders through the REST API; print completed orders/s and latency percentiles (basic), or how
    the orders of the order story ended (realistic)."""
    from .simulate import simulate as run

    _answers("orderflow", f"{url}/api/v1/health", "start it with `orderflow serve`, or say where it is with --url")
    if profile == "realistic":
        _answers(
            "the sandbox systems",
            f"{sandbox_url}/_control",
            "start them with `orderflow sandbox` (or `orderflow serve`), or say where they are with --sandbox-url "
            "or ORDERFLOW_SANDBOX_PORT",
        )
    started = time.monotonic()
    with (
        _lost_connection(url),
        click.progressbar(
            length=orders,
            label="orders ended",
            width=20,  # room beside the bar for what it waits for
            item_show_func=lambda why: f"waiting for {why}" if why else None,
        ) as bar,
    ):
        seen, said = [0], [""]
        hidden = not sys.stdout.isatty()  # click draws no bar then, only its label

        def progress(done: int, waiting_for: str = "") -> None:
            """The bar counts the ended orders and says what the run waits for; without a terminal (the bar is
            hidden then) each new reason is a line of its own."""
            bar.update(done - seen[0], waiting_for)
            seen[0] = done
            if hidden and waiting_for and waiting_for != said[0]:
                click.echo(f"waiting for {waiting_for}")
            said[0] = waiting_for

        if profile == "realistic":
            from .simulate_realistic import simulate_realistic

            story = simulate_realistic(
                url, token, sandbox_url, orders=orders, concurrency=concurrency, progress=progress
            )
        else:
            result = run(
                url,
                token,
                orders=orders,
                concurrency=concurrency,
                process_key=process_key,
                invalid_share=invalid_share,
                progress=progress,
            )
    if profile == "realistic":
        _print_story(story, url)
        return
    click.echo(f"completed {result.completed}/{orders} orders in {time.monotonic() - started:.1f}s wall clock")
    if result.other:
        click.echo(f"not completed: {result.other}")
    if result.other.get("incident"):
        click.echo(f"see the incidents at {url}/monitoring/incidents")
    click.echo(f"throughput: {result.orders_per_second:.1f} completed orders/s (first start to last completion)")
    lat = result.latency_ms
    click.echo(f"start-to-completion latency: p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms")


def _sandbox_url() -> str:
    from .config import from_environment

    return from_environment()["ORDERFLOW_SANDBOX_URL"]  # honours ORDERFLOW_SANDBOX_PORT, as `serve` does


def _answers(what: str, url: str, hint: str) -> None:
    """One clear line and exit status 1 when a system the command needs does not answer, not a traceback."""
    try:
        requests.get(url, timeout=5)
    except requests.RequestException as error:
        raise click.ClickException(f"{what} at {url} does not answer ({error.__class__.__name__}): {hint}") from None


@contextlib.contextmanager
def _lost_connection(url: str) -> Iterator[None]:
    try:
        yield
    except (requests.RequestException, NoAnswer) as error:  # the basic profile's client is app.simulate's Api
        raise click.ClickException(f"lost the connection during the run: {error.__class__.__name__}: {error}") from None


def _print_story(story: RealisticResult, url: str) -> None:
    click.echo(f"{story.started}/{story.orders} orders started, all ended in {story.seconds:.0f}s")
    if story.start_errors:
        click.echo(f"{story.start_errors} could not be started")
    click.echo("how they ended: " + ", ".join(f"{n} {outcome}" for outcome, n in story.outcomes.items()))
    click.echo("people worked: " + (", ".join(f"{n} {what}" for what, n in story.tasks_worked.items()) or "nothing"))
    click.echo("the sandbox meanwhile: " + "; ".join(story.events))
    click.echo(f"see the inbox at {url}/inbox and the incidents at {url}/monitoring/incidents")


@main.command("simulate-history")
@click.option("--weeks", default=4.0, show_default=True, help="how much history to write, ending now")
@click.option("--orders-per-hour", default=40.0, show_default=True, help="a weekday's late-morning peak")
@click.option("--running", default=30, show_default=True, help="orders under way at the end, started for real")
@click.option("--sla", default="PT2H", show_default=True, help="the target the printed late count is measured by")
@click.option("--seed", default=7, show_default=True)
@click.option("--report/--no-report", default=True, show_default=True,
              help="fit on the history and print the forecast's back-tested error and the at-risk list's precision "
              "and recall on its last week")  # fmt: skip
def simulate_history(weeks: float, orders_per_hour: float, running: int, sla: str, seed: int, report: bool) -> None:
    """Write weeks of back-dated order_fulfillment history (daily and weekly rhythm, one surge) into the configured
    database, for the forecast, capacity advice and SLA risk; then print how to look at them. Set
    ORDERFLOW_SLA='{"order_fulfillment": "PT2H"}' on the server to see the risk."""
    from processes.reporting.sla import parse_duration

    from .simulate_history import write_history

    target = _domain_call(parse_duration, sla, "--sla")
    with click.progressbar(length=100, label="writing history") as bar:
        done = [0]

        def progress(n: int, total: int) -> None:
            bar.update(n * 100 // total - done[0])
            done[0] = n * 100 // total

        result = _domain_call(
            write_history, _local_engine(), weeks=weeks, orders_per_hour=orders_per_hour, running=running, sla=target,
            seed=seed, progress=progress,
        )  # fmt: skip
    click.echo(
        f"{result.orders} completed orders from {result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC, "
        f"{result.late} of them over {sla}; {len(result.running)} orders under way"
    )
    if report:
        from .simulate_history import report as measure

        for line in measure(_local_engine(), result, target):
            click.echo(line)
    click.echo("see the forecast, capacity advice and orders at risk on /monitoring, or over REST: "
               "/api/v1/forecast?processKey=order_fulfillment, /api/v1/capacity, /api/v1/orders-at-risk")  # fmt: skip


if __name__ == "__main__":
    main()


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--junit", "junit_file", type=click.Path(path_type=Path), help="also write the results as JUnit XML")
@click.option(
    "--coverage",
    "coverage_dir",
    type=click.Path(path_type=Path),
    default=Path("var/coverage"),
    show_default=True,
    help="where the HTML coverage report goes (the diagrams drawn with what was covered)",
)
@click.option("-k", "only", default=None, help="run only the scenarios whose name contains this text")
def test(paths: tuple[Path, ...], junit_file: Path | None, coverage_dir: Path, only: str | None) -> None:
    """Run the scenario files (*.test.yaml) in PATHS (default: bpmn/) offline: the real engine on an in-memory
    database, connectors answered by the scenarios, timers skipped forward on a virtual clock. Prints pass or fail
    per scenario with the first difference, and coverage per diagram; exits 1 when a scenario fails, 2 when a
    scenario file is invalid."""
    from app.testing import junit, run_paths, text_report, write_html
    from processes.core import EngineSettings
    from processes.errors import ScenarioInvalid
    from processes.expressions.beans import load as load_beans

    # The beans a server would call (ORDERFLOW_BEANS), so diagrams that use them run here as they run live.
    like = EngineSettings(beans=load_beans(os.environ.get("ORDERFLOW_BEANS")))
    try:
        result = run_paths(list(paths) or [Path("bpmn")], only=only, like=like)
    except ScenarioInvalid as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(text_report(result))
    if junit_file is not None:
        junit_file.parent.mkdir(parents=True, exist_ok=True)
        junit_file.write_text(junit(result), encoding="utf-8")
    report = write_html(result, coverage_dir)
    click.echo(f"coverage report: {report}")
    if not result.passed:
        sys.exit(1)
