"""``asgi-translate --workers N``: uvicorn's supervisor, with a listening socket for each worker.

uvicorn binds one socket and hands it to every worker, all of which wait on it: a burst of new
connections (a client opening its pool, a load balancer's keep-alive connections) goes to
whichever worker wakes first, often all of it, and a keep-alive connection stays with the worker
that accepted it for as long as it lives (seen in benchmarks/scaling.py: one of two workers
serving all 100 connections, at half the throughput). On Linux each worker here listens on a
socket of its own, bound to the same port with ``SO_REUSEPORT``, and the kernel spreads new
connections across the workers by their addresses. Elsewhere (macOS and Windows do not balance
such sockets) the workers share uvicorn's one socket, as before.

The supervisor binds each worker's socket just before it starts that worker (one more for a
worker it restarts), so that a connection the kernel gives a worker that is still starting waits
in its queue; its own copy is closed once the worker has one, so the socket lives as long as its
worker: a worker that dies takes its socket out of the kernel's choice.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn
    import uvicorn.supervisors

logger = logging.getLogger("uvicorn.error")


def balanced() -> bool:
    """Whether workers get a socket each: where the kernel balances ``SO_REUSEPORT`` sockets."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def worker_socket(config: uvicorn.Config) -> socket.socket:
    """A listening socket on the config's host and port that other workers' sockets may share."""
    family = socket.AF_INET6 if config.host and ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((config.host, config.port))
        sock.listen(config.backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run_workers(config: uvicorn.Config) -> int:
    """Run ``config.workers`` workers until SIGINT or SIGTERM (status 0); uvicorn's supervisor
    restarts one that dies. Returns 1, having said why, when the port cannot be bound."""
    from uvicorn.supervisors import Multiprocess

    if not balanced():
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return 0
    try:
        worker_socket(config).close()  # a port that cannot be bound fails here, once, with a message
    except OSError as exc:
        logger.error("asgi-translate: cannot listen on %s:%d: %s", config.host, config.port, exc)
        return 1
    logger.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", config.host, config.port)
    _own_sockets_supervisor()(config, sockets=[]).run()
    return 0


def _own_sockets_supervisor() -> type[uvicorn.supervisors.Multiprocess]:
    """``Multiprocess`` whose ``sockets``, read each time it starts a worker process (at start,
    and for each restart), are a new socket for that worker. Made on first use: this module is
    imported without uvicorn, which only the command needs."""
    from uvicorn.supervisors import Multiprocess

    class OwnSockets(Multiprocess):
        @property
        def sockets(self) -> list[socket.socket]:
            # The list is the new process's argument, pickled as it starts (which passes the
            # worker a copy of the socket) and dropped then: the supervisor's copy closes with it.
            return [worker_socket(self.config)]

        @sockets.setter
        def sockets(self, value: list[socket.socket]) -> None:
            """``Multiprocess.__init__`` sets the shared sockets, of which there are none."""

    return OwnSockets
