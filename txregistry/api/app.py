"""
The registry's HTTP API: the routes of the Docker Registry HTTP API V2 and
the OCI Distribution Specification, bound to their handlers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any, cast
from urllib.parse import urlsplit

from klein import Klein
from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from txregistry.api.blobs import BlobHandlers
from txregistry.api.listing import ListingHandlers
from txregistry.api.manifests import ManifestHandlers
from txregistry.api.readonly import ReadOnlyResource
from txregistry.api.referrers import ReferrerHandlers
from txregistry.api.requests import API_VERSION_HEADER
from txregistry.api.uploads import UploadHandlers
from txregistry.api.uploadstate import UploadStateSigner
from txregistry.auth.interfaces import IAccessController
from txregistry.auth.resource import AuthResource
from txregistry.baseurl import hostIsValid
from txregistry.config.model import Configuration
from txregistry.errors import RegistryError, StorageFull, Unknown, Unsupported
from txregistry.http.accesslog import requestFields
from txregistry.http.responses import respond, respondError, respondJSON
from txregistry.logging import loggable
from txregistry.storage.driver.errors import isStorageFull
from txregistry.storage.registry import Registry

NAME = "/v2/<path:name>"

#: The paths of manifest and blob pulls that Klein routes to L{getManifest}
#: and L{getBlob}, with no percent-encoding: a name (whose first component
#: starts as Klein's C{path} converter wants), then a tag or digest.
_PULL = re.compile(
    rb"/v2/(?P<name>[a-z0-9][a-z0-9._/-]*)/(?:manifests/(?P<reference>[A-Za-z0-9._:=+-]+)"
    rb"|blobs/(?P<digest>[a-z0-9._+-]+:[A-Za-z0-9=_-]+))")


class RegistryApp:
    """
    The Docker Registry HTTP API V2 / OCI Distribution API over one
    registry's stores.

    Its collaborators are built once, by L{txregistry.service.makeApp}, and
    given to it, as in Klein's non-global-state example; each handler gets
    the stores and the sections of the configuration it needs.
    """

    app = Klein()
    # "/v2//etc" must reach the name check, not redirect to "/v2/etc".
    app.url_map.merge_slashes = False
    log = Logger()

    def __init__(self, config: Configuration, registry: Registry,
                 signer: UploadStateSigner,
                 controller: IAccessController | None,
                 onPull: Callable[[str, str], None] | None = None) -> None:
        """
        @param config: the configuration.
        @param registry: the stores holding the data.
        @param signer: signs the upload state carried in upload URLs.
        @param controller: decides which requests are allowed, or L{None}
            to allow every request (no C{auth} section).
        @param onPull: called with the repository and tag of each manifest
            pulled by tag (C{GET}), or L{None}.
        """
        self.config = config
        self.registry = registry
        self._controller = controller
        self.blobs = BlobHandlers(registry, config.storage)
        self.uploads = UploadHandlers(registry, config.http, signer)
        self.manifests = ManifestHandlers(registry, config.http, config.storage, onPull)
        self.listing = ListingHandlers(registry, config.tags, config.catalog)
        self.referrers = ReferrerHandlers(registry)

    def resource(self) -> IResource:
        """
        @return: the resource serving the API (pulls of manifests and blobs
            routed by L{_PullResource}, the rest by Klein), which adds the
            API version header and C{http.headers} to every response,
            refuses a request whose C{Host} is malformed, refuses every
            write in read-only mode (C{storage.maintenance.readonly}), and
            lets through only the requests its access controller allows.
        """
        served: IResource = _PullResource(self, self.app.resource())
        if self._controller is not None:
            served = AuthResource(served, self._controller)
        if self.config.storage.maintenance.readonly_enabled:
            served = ReadOnlyResource(served)
        return _HeaderResource(_HostCheckResource(served), self.config.http.headers)

    @app.route("/v2/", methods=["GET", "HEAD"])
    def base(self, request: IRequest) -> bytes:
        return respondJSON(request, {})

    @app.route(NAME + "/blobs/<digest>", methods=["GET", "HEAD"])
    def getBlob(self, request: IRequest, name: str, digest: str) -> Any:
        return self.blobs.get(request, name, digest)

    @app.route(NAME + "/blobs/<digest>", methods=["DELETE"])
    def deleteBlob(self, request: IRequest, name: str, digest: str) -> Any:
        return self.blobs.delete(request, name, digest)

    @app.route(NAME + "/blobs/uploads/", methods=["POST"])
    def startUpload(self, request: IRequest, name: str) -> Any:
        return self.uploads.start(request, name)

    @app.route(NAME + "/blobs/uploads/<uploadID>", methods=["PATCH"])
    def patchUpload(self, request: IRequest, name: str, uploadID: str) -> Any:
        return self.uploads.patch(request, name, uploadID)

    @app.route(NAME + "/blobs/uploads/<uploadID>", methods=["PUT"])
    def finishUpload(self, request: IRequest, name: str, uploadID: str) -> Any:
        return self.uploads.finish(request, name, uploadID)

    @app.route(NAME + "/blobs/uploads/<uploadID>", methods=["GET"])
    def uploadStatus(self, request: IRequest, name: str, uploadID: str) -> Any:
        return self.uploads.status(request, name, uploadID)

    @app.route(NAME + "/blobs/uploads/<uploadID>", methods=["DELETE"])
    def cancelUpload(self, request: IRequest, name: str, uploadID: str) -> Any:
        return self.uploads.cancel(request, name, uploadID)

    @app.route(NAME + "/manifests/<reference>", methods=["GET", "HEAD"])
    def getManifest(self, request: IRequest, name: str, reference: str) -> Any:
        return self.manifests.get(request, name, reference)

    @app.route(NAME + "/manifests/<reference>", methods=["PUT"])
    def putManifest(self, request: IRequest, name: str, reference: str) -> Any:
        return self.manifests.put(request, name, reference)

    @app.route(NAME + "/manifests/<reference>", methods=["DELETE"])
    def deleteManifest(self, request: IRequest, name: str, reference: str) -> Any:
        return self.manifests.delete(request, name, reference)

    @app.route(NAME + "/tags/list", methods=["GET", "HEAD"])
    def listTags(self, request: IRequest, name: str) -> Any:
        return self.listing.tags(request, name)

    @app.route(NAME + "/referrers/<digest>", methods=["GET", "HEAD"])
    def listReferrers(self, request: IRequest, name: str, digest: str) -> Any:
        return self.referrers.get(request, name, digest)

    @app.route("/v2/_catalog", methods=["GET", "HEAD"])
    def catalog(self, request: IRequest) -> Any:
        return self.listing.catalog(request)

    @app.handle_errors(RegistryError)
    def registryError(self, request: IRequest, failure: Failure) -> bytes:
        return respondError(request, cast(RegistryError, failure.value))

    @app.handle_errors(HTTPException)
    def routingError(self, request: IRequest, failure: Failure) -> bytes:
        error = cast(HTTPException, failure.value)
        if isinstance(error, RequestRedirect):
            # Relative, as distribution's: the URL Klein builds names the
            # request's Host.  Klein drops the query: keep it as sent, as
            # distribution does (a mount's mount= and from=).
            target = urlsplit(error.new_url).path.encode("utf-8")
            _, mark, query = request.uri.partition(b"?")
            request.setHeader(b"Location", target + mark + query)
            return respond(request, error.code)
        if error.code == 405:
            return respondError(request, Unsupported(message="method not allowed"))
        return respondError(request, Unsupported(message="no such endpoint", status=404))

    @app.handle_errors(Exception)
    def unexpectedError(self, request: IRequest, failure: Failure) -> bytes:
        if isStorageFull(failure.value):
            # Not a bug: one line, and a status that says what to fix.
            self.log.error("storage is full: {method} {path} refused: {error}",
                           method=loggable(request.method), path=loggable(request.path),
                           error=failure.value, fields=requestFields(request))
            return respondError(request, StorageFull())
        self.log.failure("handling {method} {path}", failure,
                         method=loggable(request.method), path=loggable(request.path),
                         fields=requestFields(request))
        return respondError(request, Unknown())


class _HeaderResource(Resource):
    """
    Adds fixed headers to every response of the resource it wraps.
    """

    isLeaf = True

    def __init__(self, wrapped: IResource, extra: dict[str, list[str]]) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._headers = [API_VERSION_HEADER] + [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, values in extra.items() for value in values]

    def render(self, request: IRequest) -> Any:
        for name, value in self._headers:
            request.responseHeaders.addRawHeader(name, value)
        return self._wrapped.render(request)


class _HostCheckResource(Resource):
    """
    Refuses a request whose C{Host} is malformed (400, as Go's server does),
    so that no URL the registry gives, nor any challenge, is built from it.
    """

    isLeaf = True

    def __init__(self, wrapped: IResource) -> None:
        super().__init__()
        self._wrapped = wrapped

    def render(self, request: IRequest) -> Any:
        if not hostIsValid(request):
            return respondError(request, Unsupported(message="malformed Host header",
                                                     status=400))
        return self._wrapped.render(request)


class _PullResource(Resource):
    """
    Serves C{GET} and C{HEAD} of manifests and blobs, the requests a
    registry gets most, as Klein would (the same handlers, the same errors,
    the handler cancelled if the client goes away) without its routing;
    passes every other request to Klein.
    """

    isLeaf = True

    def __init__(self, app: RegistryApp, klein: IResource) -> None:
        super().__init__()
        self._app = app
        self._klein = klein

    def render(self, request: IRequest) -> Any:
        match = _PULL.fullmatch(request.path) if request.method in (b"GET", b"HEAD") else None
        if match is None:
            return self._klein.render(request)
        finished: list[bool] = []
        cast(Request, request).notifyFinish().addBoth(lambda _: finished.append(True))
        name, reference, digest = match.groups()
        handled: Coroutine[Any, Any, bytes | None]
        if reference is not None:
            handled = self._app.manifests.get(request, name.decode(), reference.decode())
        else:
            handled = self._app.blobs.get(request, name.decode(), digest.decode())
        d: Deferred[bytes | None] = Deferred.fromCoroutine(handled)
        if not d.called:
            cast(Request, request).notifyFinish().addErrback(lambda _: d.cancel())

        def failed(failure: Failure) -> bytes | None:
            if finished:
                if not failure.check(CancelledError):
                    self._app.log.failure("after {method} {path} finished", failure,
                                          method=loggable(request.method),
                                          path=loggable(request.path),
                                          fields=requestFields(request))
                return None
            if failure.check(RegistryError):
                return self._app.registryError(request, failure)
            return self._app.unexpectedError(request, failure)

        def write(body: bytes | None) -> None:
            if body:
                request.write(body)
            if not finished:
                request.finish()
        d.addErrback(failed).addCallback(write)
        return NOT_DONE_YET
