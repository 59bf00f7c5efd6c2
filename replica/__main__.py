"""Command line: `python -m replica serve [--port N]` or `python -m replica exec -- CMD ARGS...`.

Both take `--data DIR` (serve a folder laid out like snapshots/, e.g. one bench/generate.py wrote),
`--latency-ms N` (delay every response) and `--traffic FILE` (write requests and bytes per source
as JSON on exit); the first two default to $MEA_REPLICA_DATA and $MEA_REPLICA_LATENCY_MS. `exec` serves on
$MEA_REPLICA_PORT (default 18770) when it is free, else on a free port.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.paths import data_dir
from replica.server import Replica, seed_inbox

PORT_ENV = "MEA_REPLICA_PORT"
#: ``exec`` serves on this port when it is free, so the base URLs, and with them each source's
#: upstream state (core.sources.upstream_id), stay the same from one `make run` to the next
EXEC_PORT = 18770


@dataclass(frozen=True)
class Serving:
    """What to serve and how: the data folder, the latency per response, where to write traffic."""

    data: Path | None = None
    latency_ms: float | None = None
    traffic: Path | None = None

    def replica(self, **options) -> Replica:
        return Replica(snapshot_dir=self.data, latency_ms=self.latency_ms, **options)

    def finish(self, replica: Replica) -> None:
        if self.traffic is not None:
            replica.write_traffic(self.traffic)


def serve(port: int, serving: Serving = Serving()) -> int:
    """Serve until SIGTERM or SIGINT."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with serving.replica(port=port, log_requests=True) as replica:
        print(f"replica listening on {replica.url}", flush=True)
        for name, url in replica.source_urls().items():
            print(f"  {name}: {url}", flush=True)
        stopping.wait()
        serving.finish(replica)
    return 0


@contextmanager
def exec_replica(serving: Serving) -> Iterator[Replica]:
    """A replica serving on ``$MEA_REPLICA_PORT`` (default EXEC_PORT), else on a free port, saying so."""
    port = int(os.environ.get(PORT_ENV) or EXEC_PORT)
    try:
        replica = serving.replica(port=port).start()
    except OSError as error:
        print(f"replica: port {port} is not free ({error.strerror}); serving on a free port, so each source's "
              f"state starts afresh", file=sys.stderr, flush=True)
        replica = serving.replica().start()
    try:
        yield replica
    finally:
        replica.stop()


def run_with_replica(command: Sequence[str], serving: Serving = Serving()) -> int:
    """Run `command` with MEA_<SOURCE>_URL pointing at an in-process replica (and the replica's
    credentials where none is set); return its exit code."""
    env = dict(os.environ)
    with exec_replica(serving) as replica:
        print(f"replica: listening on {replica.url}", file=sys.stderr, flush=True)
        for variable, value in replica.client_env().items():
            if variable not in os.environ:
                env[variable] = value
            elif variable.endswith("_URL"):
                print(f"replica: {variable} already set to {os.environ[variable]}; keeping it", file=sys.stderr)
        inbox = data_dir() / "inbox"
        for path in seed_inbox(replica.snapshot_root, inbox):
            print(f"replica: inbox fixture {path.relative_to(inbox)} placed in {inbox}", file=sys.stderr)
        try:
            child = subprocess.Popen(list(command), env=env)
        except OSError as error:
            print(f"replica: cannot run {command[0]}: {error}", file=sys.stderr)
            return 127
        # SIGTERM goes to this process only, so pass it on; Ctrl-C already reaches the whole process group.
        signal.signal(signal.SIGTERM, lambda signum, _: child.send_signal(signum))
        signal.signal(signal.SIGINT, lambda *_: None)
        returncode = child.wait()
        serving.finish(replica)
    return returncode if returncode >= 0 else 128 - returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m replica", description="Local stand-in for the upstream services.")
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, help="folder laid out like replica/snapshots (default: "
                                                  "$MEA_REPLICA_DATA, else the snapshots)")
    common.add_argument("--latency-ms", type=float,
                        help="delay every response (default: $MEA_REPLICA_LATENCY_MS, else 0)")
    common.add_argument("--traffic", type=Path, help="write requests and bytes per source to this JSON file on exit")
    serve_parser = commands.add_parser("serve", parents=[common], help="serve on 127.0.0.1 until SIGTERM/SIGINT")
    serve_parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free port)")
    exec_parser = commands.add_parser("exec", parents=[common],
                                      help="run a command with MEA_<SOURCE>_URL set to the replica")
    exec_parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")
    args = parser.parse_args(argv)
    serving = Serving(args.data, args.latency_ms, args.traffic)
    if args.command == "serve":
        return serve(args.port, serving)
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        exec_parser.error("missing command to run")
    return run_with_replica(command, serving)


if __name__ == "__main__":
    sys.exit(main())
