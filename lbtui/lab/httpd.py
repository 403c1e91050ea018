"""The HTTP server on every lab node: answers any request with the node's name.

``python -m lbtui.lab.httpd NAME [--port 80]``, inside the node's namespace. It listens on
every address, so it answers for the service addresses the node delivers locally. HTTP/1.1
keep-alive: one connection carries many requests, so the traffic generator sees which node
each of its connections lands on, and what happens to it when that node goes away. asyncio, a
few lines, no threads: it must stay cheap beside the speakers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

MAX_HEAD = 8192


def response(name: str) -> bytes:
    body = f"{name}\n".encode()
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Lab-Node: {name}\r\n\r\n"
    )
    return head.encode() + body


async def start(
    name: str,
    port: int,
    host: str = "0.0.0.0",
    connections: set[asyncio.StreamWriter] | None = None,
) -> asyncio.Server:
    """Listen on ``host:port`` (0: any free port) and answer every request with ``name``;
    ``connections``, if given, holds the open connections (a test can break them)."""
    answer = response(name)
    open_now = connections if connections is not None else set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_now.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in head.lower():
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            open_now.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.start_server(
        handle, host, port, reuse_address=True, limit=MAX_HEAD, backlog=512
    )


async def serve(name: str, port: int, host: str = "0.0.0.0") -> None:
    """Serve until SIGTERM or SIGINT."""
    server = await start(name, port, host)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with server:
        print(f"{name}: serving http on {host}:{port}", flush=True)
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description="answer every HTTP request with NAME")
    parser.add_argument("name")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args()
    asyncio.run(serve(args.name, args.port, args.host))


if __name__ == "__main__":
    main()
