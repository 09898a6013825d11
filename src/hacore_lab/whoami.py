"""Who does the far end see? A one-line TCP service for the lab's NAT tests.

Run inside lab namespaces (bounded in time and count, then it exits):
    python -m hacore_lab.whoami serve --bind 198.19.0.10 --port 5002 --seconds 60
    python -m hacore_lab.whoami ask --to 198.19.0.10 --port 5002
The server answers each connection with the address and port it came from
("198.51.100.101 40312") and closes it; ask prints the answer.
"""

from __future__ import annotations

import argparse
import socket
import time

PORT = 5002
MAX_CONNECTIONS = 1000


def serve(bind: str, port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    with socket.create_server((bind, port), reuse_port=True) as srv:
        for _ in range(MAX_CONNECTIONS):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            srv.settimeout(left)
            try:
                conn, addr = srv.accept()
            except TimeoutError:
                return
            with conn:
                conn.sendall(f"{addr[0]} {addr[1]}\n".encode())


def ask(to: str, port: int, timeout_s: float = 5.0) -> str:
    with socket.create_connection((to, port), timeout=timeout_s) as conn:
        return conn.makefile().readline().strip()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m hacore_lab.whoami")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, default=PORT)
    s.add_argument("--seconds", type=float, default=60.0)
    a = sub.add_parser("ask")
    a.add_argument("--to", required=True)
    a.add_argument("--port", type=int, default=PORT)
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args.bind, args.port, args.seconds)
    else:
        print(ask(args.to, args.port))


if __name__ == "__main__":
    main()
