"""
Tests for L{txregistry.auth.resource}: the API behind each provider, in
memory.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from tests.api.support import InMemoryRegistry
from tests.tokenserver import TestPKI
from txregistry.auth.access import Access
from txregistry.auth.interfaces import Challenge, Grant
from txregistry.auth.resource import AuthResource
from txregistry.config import AuthConfig
from txregistry.digest import Digest
from txregistry.logging import eventFields, runWithFields
from txregistry.storage import paths

NOW = 1_800_000_000.0


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def logged() -> Any:
    """
    The log events emitted during the test.
    """
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


@pytest.fixture
def htpasswdRegistry(htpasswdPath: Path) -> InMemoryRegistry:
    return InMemoryRegistry(auth=AuthConfig("htpasswd", {
        "realm": "Registry Realm", "path": str(htpasswdPath)}), delete_enabled=True)


@pytest.fixture
def tokenRegistry(pki: TestPKI, tmp_path: Path) -> InMemoryRegistry:
    registry = InMemoryRegistry(auth=AuthConfig("token", {
        "realm": "https://auth.test/token", "service": "test-registry",
        "issuer": "test-issuer", "rootcertbundle": str(pki.writeBundle(tmp_path / "r.pem")),
        "jwks": ""}), delete_enabled=True)
    registry.clock.advance(NOW)
    return registry


def test_htpasswd_challenge(htpasswdRegistry: InMemoryRegistry) -> None:
    """Without credentials: 401 UNAUTHORIZED with a Basic challenge and the API header."""
    response = htpasswdRegistry.request("GET", "/v2/")
    assert response.code == 401
    assert response.header("WWW-Authenticate") == 'Basic realm="Registry Realm"'
    assert response.header("Docker-Distribution-API-Version") == "registry/2.0"
    assert response.errorCodes == ["UNAUTHORIZED"]


def test_htpasswd_detail_lists_access(htpasswdRegistry: InMemoryRegistry) -> None:
    """The error detail lists what the request needed, as distribution does."""
    response = htpasswdRegistry.request("GET", "/v2/foo/tags/list")
    assert response.json()["errors"][0]["detail"] == [
        {"Type": "repository", "Class": "", "Name": "foo", "Action": "pull"}]


def test_htpasswd_push_and_pull(htpasswdRegistry: InMemoryRegistry) -> None:
    """A known user pushes and pulls a blob."""
    data = b"layer data"
    digest = Digest.of(data)
    pushed = htpasswdRegistry.request("POST", f"/v2/foo/blobs/uploads/?digest={digest}",
                                      data, basic("alice", "secret"))
    assert pushed.code == 201
    pulled = htpasswdRegistry.request("GET", f"/v2/foo/blobs/{digest}",
                                      headers=basic("bob", "hunter2"))
    assert (pulled.code, pulled.body) == (200, data)


@pytest.mark.parametrize("headers", [
    basic("alice", "wrong"), basic("nobody", "secret"),
    {"Authorization": "Basic ***"}, {"Authorization": "Bearer x"},
    {"Authorization": ""}, {"Authorization": "Basic " + "A" * 10000},
])
def test_htpasswd_bad_credentials(htpasswdRegistry: InMemoryRegistry,
                                  headers: dict[str, str]) -> None:
    """Bad or malformed credentials get 401 with the challenge, never 500."""
    response = htpasswdRegistry.request("GET", "/v2/foo/tags/list", headers=headers)
    assert response.code == 401
    assert response.header("WWW-Authenticate") == 'Basic realm="Registry Realm"'


def test_head_refused_without_body(htpasswdRegistry: InMemoryRegistry) -> None:
    """A refused HEAD gets 401 and no body."""
    response = htpasswdRegistry.request("HEAD", "/v2/foo/manifests/latest")
    assert (response.code, response.body) == (401, b"")


def test_failure_logged_without_password(htpasswdRegistry: InMemoryRegistry,
                                         logged: list[dict[str, Any]]) -> None:
    """A failed attempt is logged with the client and user, never the password."""
    htpasswdRegistry.request("GET", "/v2/", headers=basic("alice", "s3cr3t-guess"))
    warnings = [e for e in logged if e.get("log_level") == LogLevel.warn
                and "authentication failed" in e.get("log_format", "")]
    assert len(warnings) == 1
    event = warnings[0]
    assert event["user"] == "alice" and event["client"]
    assert "s3cr3t-guess" not in repr(event)


def test_failure_logged_on_one_line(htpasswdRegistry: InMemoryRegistry,
                                    logged: list[dict[str, Any]]) -> None:
    """A user name with CR/LF and an escape is logged escaped, on one line."""
    htpasswdRegistry.request("GET", "/v2/", headers=basic("eve\r\nforged line\x1b[2J", "x"))
    [line] = [formatEvent(e) for e in logged if e.get("log_level") == LogLevel.warn
              and "authentication failed" in e.get("log_format", "")]
    assert "(user eve\\r\\nforged line\\x1b[2J)" in line
    assert line.isprintable()


def test_linesOfARequestCarryItsFields(htpasswdRegistry: InMemoryRegistry) -> None:
    """
    A warning logged deep in the storage while a request by alice is
    handled, and the request's access line, carry the same request id,
    the user, the repository and the reference; the access line names
    alice as its user.
    """
    htpasswdRegistry.driver.putContent(paths.tagCurrentLink("foo", "v1"), b"\xffcorrupt")
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def observe(event: dict[str, Any]) -> None:
        seen.append((event, eventFields(event)))

    globalLogPublisher.addObserver(observe)
    try:
        response = htpasswdRegistry.request("GET", "/v2/foo/manifests/v1",
                                            headers=basic("alice", "secret"))
    finally:
        globalLogPublisher.removeObserver(observe)
    assert response.code == 404
    [(_, warned)] = [(e, f) for e, f in seen if "corrupt link" in formatEvent(e)]
    [(access, logged)] = [(e, f) for e, f in seen if "line" in e]
    assert warned["http.request.id"] == logged["http.request.id"]
    for fields in (warned, logged):
        assert fields["auth.user.name"] == "alice"
        assert (fields["vars.name"], fields["vars.reference"]) == ("foo", "v1")
    assert '" - alice [' in access["line"]


def test_tokenSubjectOnAccessLine(tokenRegistry: InMemoryRegistry, pki: TestPKI,
                                  logged: list[dict[str, Any]]) -> None:
    """A request allowed by a token names the token's subject as its user; the token is not logged."""
    token = pki.token(access=[{"type": "repository", "name": "foo", "actions": ["pull"]}],
                      now=NOW, subject="robot-7")
    assert tokenRegistry.request("GET", "/v2/foo/tags/list", headers=bearer(token)).code == 404
    [access] = [e for e in logged if "line" in e]
    assert '" - robot-7 [' in access["line"]
    assert access["fields"]["auth.user.name"] == "robot-7"
    assert not [e for e in logged if token in repr(e)]


def test_token_challenge_scope(tokenRegistry: InMemoryRegistry) -> None:
    """An upload without a token is challenged for pull and push."""
    response = tokenRegistry.request("POST", "/v2/foo/blobs/uploads/")
    assert response.code == 401
    assert response.header("WWW-Authenticate") == (
        'Bearer realm="https://auth.test/token",service="test-registry",'
        'scope="repository:foo:pull,push"')


def test_token_catalog_scope(tokenRegistry: InMemoryRegistry, pki: TestPKI) -> None:
    """The catalog needs registry:catalog:*, also when its path is percent-encoded."""
    for path in ("/v2/_catalog", "/v2/%5Fcatalog"):
        response = tokenRegistry.request("GET", path)
        assert response.code == 401
        assert 'scope="registry:catalog:*"' in response.header("WWW-Authenticate")
    token = pki.token([{"type": "registry", "name": "catalog", "actions": ["*"]}], now=NOW)
    assert tokenRegistry.request("GET", "/v2/_catalog", headers=bearer(token)).code == 200


def test_token_base_any_valid_token(tokenRegistry: InMemoryRegistry, pki: TestPKI) -> None:
    """/v2/ takes any valid token, even one granting nothing."""
    assert tokenRegistry.request("GET", "/v2/", headers=bearer(pki.token([], now=NOW))).code == 200


def test_token_pull_only_cannot_push(tokenRegistry: InMemoryRegistry, pki: TestPKI) -> None:
    """A pull-only token is refused a push with insufficient_scope."""
    token = pki.token([{"type": "repository", "name": "foo", "actions": ["pull"]}], now=NOW)
    response = tokenRegistry.request("PUT", "/v2/foo/manifests/latest", b"{}",
                                     {**bearer(token), "Content-Type": "application/json"})
    assert response.code == 401
    assert response.header("WWW-Authenticate").endswith(
        'scope="repository:foo:pull,push",error="insufficient_scope"')


def test_token_push_pull_delete(tokenRegistry: InMemoryRegistry, pki: TestPKI) -> None:
    """Each action is allowed by its own grant only."""
    data = b"blob"
    digest = Digest.of(data)
    push = pki.token([{"type": "repository", "name": "foo", "actions": ["pull", "push"]}],
                     now=NOW)
    assert tokenRegistry.request("POST", f"/v2/foo/blobs/uploads/?digest={digest}",
                                 data, bearer(push)).code == 201
    assert tokenRegistry.request("GET", f"/v2/foo/blobs/{digest}",
                                 headers=bearer(push)).code == 200
    assert tokenRegistry.request("DELETE", f"/v2/foo/blobs/{digest}",
                                 headers=bearer(push)).code == 401
    delete = pki.token([{"type": "repository", "name": "foo", "actions": ["delete"]}],
                       now=NOW)
    assert tokenRegistry.request("DELETE", f"/v2/foo/blobs/{digest}",
                                 headers=bearer(delete)).code == 202


def test_token_mount_needs_pull_on_source(tokenRegistry: InMemoryRegistry,
                                          pki: TestPKI) -> None:
    """A cross-repository mount also needs pull on the source repository."""
    data = b"shared layer"
    digest = Digest.of(data)
    both = [{"type": "repository", "name": "src", "actions": ["pull", "push"]},
            {"type": "repository", "name": "dst", "actions": ["pull", "push"]}]
    assert tokenRegistry.request("POST", f"/v2/src/blobs/uploads/?digest={digest}", data,
                                 bearer(pki.token(both, now=NOW))).code == 201
    mount = f"/v2/dst/blobs/uploads/?mount={digest}&from=src"
    dstOnly = pki.token(both[1:], now=NOW)
    refused = tokenRegistry.request("POST", mount, headers=bearer(dstOnly))
    assert refused.code == 401
    assert 'scope="repository:dst:pull,push repository:src:pull"' in \
        refused.header("WWW-Authenticate")
    assert tokenRegistry.request("POST", mount, headers=bearer(pki.token(both, now=NOW))).code == 201


def test_token_expired(tokenRegistry: InMemoryRegistry, pki: TestPKI) -> None:
    """An expired token gets 401 with error="invalid_token"."""
    token = pki.token([], now=NOW - 3600, lifetime=300)
    response = tokenRegistry.request("GET", "/v2/", headers=bearer(token))
    assert response.code == 401
    assert response.header("WWW-Authenticate").endswith(',error="invalid_token"')


def test_silly(tmp_path: Path) -> None:
    """silly: no header is challenged, any header passes."""
    registry = InMemoryRegistry(auth=AuthConfig("silly", {"realm": "r", "service": "s"}))
    assert registry.request("GET", "/v2/").code == 401
    assert registry.request("GET", "/v2/", headers={"Authorization": "x"}).code == 200


def test_auth_none() -> None:
    """auth: none means no access control, as distribution."""
    registry = InMemoryRegistry(auth=AuthConfig("none", {}))
    assert registry.request("GET", "/v2/").code == 200


class PendingController:
    """
    An access controller whose answers the test gives later.
    """

    def __init__(self) -> None:
        self.pending: list[Deferred[Grant]] = []

    def authorize(self, request: Any, accesses: Any) -> Deferred[Grant]:
        d: Deferred[Grant] = Deferred()
        self.pending.append(d)
        return d


class Served:
    """
    A resource recording that it rendered.
    """

    def __init__(self) -> None:
        self.rendered = 0

    def render(self, request: Any) -> bytes:
        self.rendered += 1
        return b"served"


def test_lateDecisionInRequestContext() -> None:
    """A request allowed later (a thread's answer) is served in the context it was rendered in, with its user recorded."""
    controller = PendingController()
    served: list[dict[str, Any]] = []

    class Fields:
        def render(self, request: Any) -> bytes:
            served.append(eventFields({}))
            return b"served"

    request = DummyRequest([b""])
    request.path = b"/v2/"
    runWithFields(lambda: {"http.request.id": "r9"},
                  lambda: AuthResource(Fields(), controller).render(request))  # type: ignore[arg-type]
    controller.pending[0].callback(Grant("carol"))
    assert served == [{"http.request.id": "r9"}]
    assert request.authenticatedUser == "carol"


def test_answer_waits_for_decision() -> None:
    """A request is served only once the controller grants it, later."""
    controller, served = PendingController(), Served()
    request = DummyRequest([b""])
    request.path = b"/v2/"
    body = AuthResource(served, controller).render(request)  # type: ignore[arg-type]
    assert served.rendered == 0 and request.finished == 0
    controller.pending[0].callback(Grant("u"))
    assert served.rendered == 1 and request.written == [b"served"]
    assert request.finished == 1 and body is NOT_DONE_YET


def test_refusal_later() -> None:
    """A refusal decided later is written then, with the challenge."""
    controller, served = PendingController(), Served()
    request = DummyRequest([b""])
    request.path = b"/v2/"
    AuthResource(served, controller).render(request)  # type: ignore[arg-type]
    controller.pending[0].errback(Challenge({b"WWW-Authenticate": b"Basic realm=x"}, "no"))
    assert served.rendered == 0 and request.responseCode == 401
    assert request.responseHeaders.getRawHeaders(b"www-authenticate") == [b"Basic realm=x"]


def test_disconnected_before_decision() -> None:
    """A client gone before the decision is not answered."""
    controller, served = PendingController(), Served()
    request = DummyRequest([b""])
    request.path = b"/v2/"
    AuthResource(served, controller).render(request)  # type: ignore[arg-type]
    request.processingFailed(Exception("gone"))  # fires notifyFinish's errback
    controller.pending[0].callback(Grant())
    assert served.rendered == 0


def test_controller_bug_is_500() -> None:
    """An unexpected error in a controller is a 500, logged, not a crash."""

    class Broken:
        def authorize(self, request: Any, accesses: list[Access]) -> Deferred[Grant]:
            raise RuntimeError("bug")

    request = DummyRequest([b""])
    request.path = b"/v2/"
    AuthResource(Served(), Broken()).render(request)  # type: ignore[arg-type]
    assert request.responseCode == 500
