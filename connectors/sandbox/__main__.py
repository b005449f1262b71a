"""``python -m connectors.sandbox [--host H] [--port P]``: serve the simulated systems (connectors/sandbox/serving.py:
a thread per connection, with waitress's request parser and replies)."""

from __future__ import annotations

import argparse

from connectors.sandbox.server import create_sandbox_app
from connectors.sandbox.serving import SandboxServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port (read it from the ready line)")
    parser.add_argument("--threads", type=int, default=8, help="requests answered at once")
    parser.add_argument("--seed", type=int, default=None, help="seed for random errors and declines")
    args = parser.parse_args(argv)

    # The server binds its socket when made, so from here connections are accepted (queued until run()).
    server = SandboxServer(create_sandbox_app(args.seed), host=args.host, port=args.port, threads=args.threads)
    port = server.effective_port
    # The one stdout line scripts and tests wait for before sending requests.
    print(f"sandbox listening on http://{args.host}:{port}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
