#!/usr/bin/env python3
"""asyncio_server.py -- the Python line server echochat is compared with.

What a reader of the asyncio tutorials writes, on purpose with nothing
tuned: one asyncio.start_server, StreamReader.readline, writer.write and
await writer.drain().  scripts/bench runs it as a peer of echochatd.

  --mode echo   send every line back to its sender
  --mode chat   send every line to every other client as "<userN> line"

It binds 127.0.0.1 only, on --port (0: the kernel chooses), prints
"asyncio_server: listening on tcp 127.0.0.1:PORT" once ready, and runs
until killed.  The one deviation from the tutorials is a listen backlog
of 1024 instead of 100, so that the benchmarks' connection bursts measure
the server rather than SYN retransmission timers.
"""

import argparse
import asyncio
import sys

# Chat room: writer -> name.  Only touched from the event loop.
clients = {}
next_user = 0


async def echo(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    except (ConnectionError, ValueError):
        pass  # reset by the peer, or a line over the StreamReader limit
    finally:
        writer.close()


async def chat(reader, writer):
    global next_user
    next_user += 1
    name = "user%d" % next_user
    prefix = ("<%s> " % name).encode()
    clients[writer] = name
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            message = prefix + line
            for other in list(clients):
                if other is writer or other.is_closing():
                    continue
                try:
                    other.write(message)
                    await other.drain()
                except ConnectionError:
                    clients.pop(other, None)
    except (ConnectionError, ValueError):
        pass
    finally:
        clients.pop(writer, None)
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("echo", "chat"), default="echo")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    handler = echo if args.mode == "echo" else chat
    server = await asyncio.start_server(handler, "127.0.0.1", args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print("asyncio_server: listening on tcp 127.0.0.1:%d" % port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
