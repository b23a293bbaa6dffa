"""
Several reactor processes serving the same listening addresses
(C{http.workers}).

The process twistd starts is the I{supervisor} and also serves as worker 1:
it binds every listener first (with C{SO_REUSEPORT}, see
L{txregistry.reuseport}), so that a listener on port 0 gets its port, then
spawns workers 2 to N (L{WorkerSupervisor}).  Each worker runs
C{python -m txregistry.workers}, reads its L{WorkerSpec} (the supervisor's
configuration, its listener descriptions, the ports bound, and the function
that builds a worker's service tree) from its standard input, binds the
same ports with C{SO_REUSEPORT} and serves with its own storage thread pool;
only worker 1 purges old uploads.

  - The kernel spreads new connections over the processes' sockets.
  - The supervisor restarts a worker that dies (with a backoff), stops its
    workers (C{SIGTERM}, then C{SIGKILL}) when it stops, and forwards
    C{SIGHUP} (certificate reloads) to them.
  - A worker stops when its standard input reaches end of file: the
    supervisor holds the other end, so a worker does not outlive it, even
    when it is killed.
  - A worker's log events come back over its standard output, as JSON
    lines, and the supervisor logs them with C{worker N} in their system.
  - With metrics (C{http.debug.prometheus}), the supervisor asks each
    worker for its figures, over a Unix socket (the worker's descriptor 3),
    each time its debug listener's C{/metrics} is scraped
    (L{txregistry.workers.figures}).
  - Without C{http.secret}, the supervisor draws a random one and hands it
    to its workers in their configuration, so that an upload URL signed by
    one process is good in every other.
"""

from txregistry.workers.spec import WorkerSpec, decodeSpec, encodeSpec
from txregistry.workers.supervisor import ProcessSpawner, WorkerSupervisor

__all__ = [
    "ProcessSpawner",
    "WorkerSpec",
    "WorkerSupervisor",
    "decodeSpec",
    "encodeSpec",
]
