"""``python -m connectors.sandbox [--host H] [--port P]``: serve the simulated systems with waitress."""

from __future__ import annotations

import argparse
import logging

from waitress import create_server

from connectors.sandbox.server import create_sandbox_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port (read it from the ready line)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=None, help="seed for random errors and declines")
    args = parser.parse_args(argv)

    # Load tests keep more requests in flight than there are threads; a short queue is the expected
    # state there, not a warning worth a line of stderr per request.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # create_server binds the socket, so once it returns connections are accepted (queued until run()).
    server = create_server(create_sandbox_app(args.seed), host=args.host, port=args.port, threads=args.threads)
    port = getattr(server, "effective_port", args.port)
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
