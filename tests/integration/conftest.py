"""
Fixtures for the integration tests: real registry processes on free loopback
ports, and OCI image layouts of random data for skopeo to push.

Every process started here is stopped when its test ends (SIGTERM, then
SIGKILL); a failing test's report carries the logs of the processes it ran.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import DOCKER_REGISTRY, OCILayout, Registries, RegistryProcess


@pytest.fixture(scope="session", autouse=True)
def system_programs() -> None:
    """
    Fail (never skip) when the programs the tests drive are missing.
    """
    missing = [
        name
        for name, found in [
            ("skopeo", shutil.which("skopeo")),
            ("docker-registry", os.access(DOCKER_REGISTRY, os.X_OK)),
        ]
        if not found
    ]
    if missing:
        pytest.fail(
            f"missing {', '.join(missing)}: run tests/install-system-deps "
            "(tox runs it first)",
            pytrace=False,
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """
    Add the logs of the registry processes a failed test ran to its report.
    """
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for process in getattr(item, "registry_processes", []):
            report.sections.append(
                (f"{process.kind} log ({process.log_path})", process.log())
            )


@pytest.fixture
def registries(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Registries]:
    """
    A L{Registries} starting processes that are stopped after the test.
    """
    started = Registries(tmp_path)
    request.node.registry_processes = started.processes
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def txregistry_server(registries: Registries) -> RegistryProcess:
    """
    A running C{twistd -n registry} with an empty storage root.
    """
    return registries.txregistry()


@pytest.fixture
def distribution_server(registries: Registries) -> RegistryProcess:
    """
    A running distribution registry with an empty storage root.
    """
    return registries.distribution()


@pytest.fixture(params=["txregistry", "distribution"])
def any_registry(
    request: pytest.FixtureRequest, registries: Registries
) -> RegistryProcess:
    """
    A running registry of each kind, with an empty storage root: tests using
    it hold txregistry to distribution's observed behaviour, and prove that
    the test itself is right by passing against distribution.
    """
    return registries.start(request.param)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """
    A random generator whose seed is printed (shown for failing tests).
    """
    seed = random.SystemRandom().getrandbits(64)
    print(f"random seed: {seed}")
    return random.Random(seed)


@pytest.fixture
def make_layout(tmp_path: Path, rng: random.Random) -> Callable[[str], OCILayout]:
    """
    A factory of empty OCI layouts under the test's temporary directory.
    """

    def make(name: str) -> OCILayout:
        return OCILayout(tmp_path / name, rng)

    return make


@pytest.fixture
def single_image(make_layout: Callable[[str], OCILayout]) -> OCILayout:
    """
    An OCI layout holding one image of three random layers, tagged C{v1}.
    """
    layout = make_layout("source")
    layout.tag("v1", layout.add_image("amd64", layers=3))
    return layout


@pytest.fixture
def multi_arch_image(make_layout: Callable[[str], OCILayout]) -> OCILayout:
    """
    An OCI layout holding an index of an amd64 and an arm64 image, tagged
    C{multi}.
    """
    layout = make_layout("multi-source")
    amd64 = layout.add_image("amd64", layers=2)
    arm64 = layout.add_image("arm64", layers=3)
    layout.tag("multi", layout.add_index([amd64, arm64]))
    return layout
