"""
Tests for C{http.debug} and the C{health} section: accepted as distribution
writes them, bad values refused at their key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from txregistry.config import ConfigError, Configuration, HealthCheck
from txregistry.config.unsupported import unsupported

MINIMAL = "version: 0.1\nstorage:\n  inmemory:\n"

Loader = Callable[..., Configuration]

FULL = MINIMAL + """\
http:
  debug:
    addr: localhost:5001
health:
  storagedriver:
    enabled: true
    interval: 5s
    threshold: 3
  file:
    - file: /down
      interval: 2s
  http:
    - uri: http://server.internal/health
      headers:
        Authorization: [Basic abc]
      statuscode: 204
      timeout: 3s
      interval: 4s
      threshold: 2
  tcp:
    - addr: db.internal:5432
      timeout: 1s
      interval: 3s
      threshold: 4
"""


def test_accepted(load: Loader) -> None:
    """Every key of http.debug.addr and health parses, and none is refused as unsupported."""
    config = load(FULL)
    assert config.http.debug is not None
    assert config.http.debug.addr == "localhost:5001"
    health = config.health
    assert health.storagedriver_enabled
    assert health.storagedriver_interval == timedelta(seconds=5)
    assert health.storagedriver_threshold == 3
    assert health.checks == [
        HealthCheck("file", "/down", interval=timedelta(seconds=2)),
        HealthCheck("http", "http://server.internal/health",
                    interval=timedelta(seconds=4), threshold=2,
                    timeout=timedelta(seconds=3), statuscode=204,
                    headers={"Authorization": ["Basic abc"]}),
        HealthCheck("tcp", "db.internal:5432", interval=timedelta(seconds=3),
                    threshold=4, timeout=timedelta(seconds=1)),
    ]
    assert list(unsupported(config)) == []


@pytest.mark.parametrize(
    "section, path",
    [
        ("http:\n  debug:\n    addr: nowhere\n", r"http\.debug\.addr"),
        ("http:\n  debug:\n    addr: 'bad host:1'\n", r"http\.debug\.addr"),
        ("health:\n  storagedriver:\n    enabled: true\n    interval: often\n",
         r"health\.storagedriver\.interval"),
        ("health:\n  storagedriver:\n    threshold: -1\n",
         r"health\.storagedriver\.threshold"),
        ("health:\n  file:\n    - interval: 1s\n", r"health\.file\[0\]\.file"),
        ("health:\n  http:\n    - uri: server/health\n", r"health\.http\[0\]\.uri"),
        ("health:\n  http:\n    - uri: http://a/\n      statuscode: ok\n",
         r"health\.http\[0\]\.statuscode"),
        ("health:\n  tcp:\n    - addr: db\n", r"health\.tcp\[0\]\.addr"),
        ("health:\n  tcp:\n    - addr: db:1\n      timeout: soon\n",
         r"health\.tcp\[0\]\.timeout"),
        ("health:\n  tcp:\n    - addr: db:1\n      port: 2\n", r"health\.tcp\[0\]\.port"),
    ],
)
def test_refused(load: Loader, section: str, path: str) -> None:
    """A bad value of http.debug or health is refused with its key's path."""
    with pytest.raises(ConfigError, match="^" + path + ": "):
        load(MINIMAL + section)
