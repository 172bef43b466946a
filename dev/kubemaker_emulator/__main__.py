"""`python -m kubemaker_emulator`: serves the SageMaker emulator until interrupted."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from kubemaker_emulator.timings import PROFILES


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kubemaker_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="demo", help="how long each phase lasts")
    parser.add_argument("--ready-file", type=Path, help="written with the URL once the emulator listens")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    # Our app prints one line per request; werkzeug's own access log would repeat it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from kubemaker_emulator.app import EmulatorApp

    app = EmulatorApp(arguments.profile)

    class RequestHandler(WSGIRequestHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:
            # The Date header by the emulator's clock, which a test may have skewed.
            return super().date_time_string(app.clock.now() if timestamp is None else timestamp)

    server = make_server(arguments.host, arguments.port, app, threaded=True, request_handler=RequestHandler)
    url = f"http://{arguments.host}:{server.server_port}"
    if arguments.ready_file:
        # Written whole, then renamed, so a watcher never reads half a URL.
        partial = arguments.ready_file.with_name(arguments.ready_file.name + ".partial")
        partial.write_text(url + "\n")
        os.replace(partial, arguments.ready_file)
    print(f"SageMaker emulator ({arguments.profile} profile) listening on {url}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
