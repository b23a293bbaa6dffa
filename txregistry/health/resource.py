"""
What the health checks' results are served as: the debug listener's
C{/debug/health}, and the gate closing the main listener while a check
fails, both as distribution serves them.
"""

from __future__ import annotations

from typing import Any

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from txregistry.errors import Unavailable
from txregistry.health.registry import HealthRegistry
from txregistry.http.responses import respond, respondError, respondJSON

#: The detail of the main listener's 503 while a check fails.
UNHEALTHY_DETAIL = "health check failed: please see /debug/health"


class HealthStatusResource(Resource):
    """
    C{/debug/health}: C{GET} answers C{{}} (200) when every check passes,
    else 503 with each failing check's name and reason; other methods 404
    (Go's C{http.NotFound}).
    """

    isLeaf = True

    def __init__(self, health: HealthRegistry) -> None:
        super().__init__()
        self._health = health

    def render(self, request: IRequest) -> Any:
        if request.method != b"GET":
            return respond(request, 404, {"Content-Type": "text/plain; charset=utf-8"},
                           b"404 page not found\n")
        failing = self._health.failing()
        return respondJSON(request, failing, 503 if failing else 200)


def debugRoot(health: HealthRegistry, metrics: IResource | None = None,
              metricsPath: str = "/metrics") -> IResource:
    """
    The debug listener's resource tree: C{/debug/health}, and C{metrics}
    (Prometheus' exposition, C{http.debug.prometheus}) at C{metricsPath}
    if given.
    """
    root = Resource()
    debug = Resource()
    root.putChild(b"debug", debug)
    debug.putChild(b"health", HealthStatusResource(health))
    if metrics is not None:
        segments = metricsPath.strip("/").encode("utf-8").split(b"/")
        parent = root
        for segment in segments[:-1]:
            child = parent.children.get(segment)
            if child is None:
                child = Resource()
                parent.putChild(segment, child)
            parent = child
        parent.putChild(segments[-1], metrics)
    return root


class UnhealthyGate(Resource):
    """
    Answers every request 503 C{UNAVAILABLE} while a health check fails, as
    distribution's C{health.Handler} wrapping its app; passes requests to
    the resource it wraps otherwise.
    """

    isLeaf = True

    def __init__(self, wrapped: IResource, health: HealthRegistry) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._health = health

    def render(self, request: IRequest) -> Any:
        if self._health.failing():
            return respondError(request, Unavailable(UNHEALTHY_DETAIL))
        return self._wrapped.render(request)
