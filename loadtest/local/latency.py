"""A network round trip between the function and the database, which loopback does not have.

On AWS a function reaches the reader over the VPC: every round trip of a login (TCP, TLS, MySQL
authentication) and of each query costs about a millisecond, so a connection being opened is held
for several of them while the function waits. On loopback they cost nothing, and on a machine with
two CPUs the database never sees more connections at once than there are CPUs. This TCP relay on
127.0.0.1 delays every chunk by a fixed one-way time (without limiting throughput), so that
connection counts behave as they do on a network.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(data)
            await writer.drain()

    delivery = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
    finally:
        queue.put_nowait((0.0, b""))
        with contextlib.suppress(ConnectionError):
            await delivery
        writer.close()


@contextlib.contextmanager
def delayed_link(target_host: str, target_port: int, one_way_ms: float) -> Iterator[int]:
    """Listen on a free port of 127.0.0.1 and relay to the target with ``one_way_ms`` each way; yields the port."""
    loop = asyncio.new_event_loop()
    delay = one_way_ms / 1000
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def relay(client_reader, client_writer) -> None:
        try:
            await asyncio.sleep(delay)  # the connection request travels too (and after what was sent before it)
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, server_writer, delay),
            _pipe(server_reader, client_writer, delay),
            return_exceptions=True,
        )

    async def serve() -> None:
        server = await asyncio.start_server(relay, "127.0.0.1", 0)
        holder["server"], holder["port"] = server, server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await server.serve_forever()

    thread = threading.Thread(target=lambda: loop.run_until_complete(_until_cancelled(serve())), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise TimeoutError("the latency relay did not start")
    try:
        yield holder["port"]
    finally:
        loop.call_soon_threadsafe(holder["server"].close)
        loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(loop)])
        thread.join(10)


async def _until_cancelled(coroutine) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await coroutine
