"""Command line: `python -m replica serve [--port N]` or `python -m replica exec -- CMD ARGS...`."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

from outputs.paths import data_dir
from replica.server import Replica, seed_inbox


def serve(port: int) -> int:
    """Serve until SIGTERM or SIGINT."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with Replica(port=port, log_requests=True) as replica:
        print(f"replica listening on {replica.url}", flush=True)
        for name, url in replica.source_urls().items():
            print(f"  {name}: {url}", flush=True)
        stopping.wait()
    return 0


def run_with_replica(command: Sequence[str]) -> int:
    """Run `command` with MEA_<SOURCE>_URL pointing at an in-process replica (and the replica's
    credentials where none is set); return its exit code."""
    env = dict(os.environ)
    with Replica() as replica:
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
    return returncode if returncode >= 0 else 128 - returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m replica", description="Local stand-in for the upstream services.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve on 127.0.0.1 until SIGTERM/SIGINT")
    serve_parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free port)")
    exec_parser = commands.add_parser("exec", help="run a command with MEA_<SOURCE>_URL set to the replica")
    exec_parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.port)
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        exec_parser.error("missing command to run")
    return run_with_replica(command)


if __name__ == "__main__":
    sys.exit(main())
