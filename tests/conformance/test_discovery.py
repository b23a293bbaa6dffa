"""
The content discovery workflow of the OCI conformance suite: tag lists with
C{n} and C{last} (C{conformance/03_discovery_test.go}, C{conformance/run.go}
C{TestList}, C{TestEmpty}), and the referrers API (C{TestReferrers}).
"""

from __future__ import annotations

import json

import pytest

from tests.conformance import oci
from tests.conformance.clients import MemoryClient
from tests.conformance.oci import REPO1, check


def test_discovery_ping(client: MemoryClient) -> None:
    """run.go TestPing: GET /v2/ answers 200."""
    check(client.request("GET", "/v2/"), 200)


def test_discovery_emptyTagList(client: MemoryClient) -> None:
    """run.go TestEmpty "tag list": an empty repository lists 200 (or 404)."""
    assert oci.tagList(client, REPO1) in (None, [])


def test_discovery_emptyReferrers(client: MemoryClient) -> None:
    """run.go TestEmpty "referrers": an unknown subject has an empty OCI index (200)."""
    _, index = oci.referrersList(client, REPO1, oci.randomDigest())
    assert index.get("manifests") == []


@pytest.fixture
def tagged(client: MemoryClient) -> list[str]:
    """The classic discovery setup: one manifest under tags test0 to test3."""
    td = oci.generate("image")
    oci.pushData(client, td)
    (dig,) = td.manOrder
    for i in range(4):
        oci.manifestPut(client, REPO1, f"test{i}", dig, td.manifests[dig])
    return ["image", "test0", "test1", "test2", "test3"]


def test_discovery_listTags(client: MemoryClient, tagged: list[str]) -> None:
    """03_discovery_test.go: GET request to list tags should yield 200 response."""
    response = check(client.request("GET", f"/v2/{REPO1}/tags/list"), 200)
    assert response.json() == {"name": REPO1, "tags": sorted(tagged)}


def test_discovery_listTagsN(client: MemoryClient, tagged: list[str]) -> None:
    """03_discovery_test.go: GET number of tags should be limitable by `n` query parameter."""
    n = len(tagged) // 2
    assert oci.tagList(client, REPO1, n=str(n)) == sorted(tagged)[:n]


def test_discovery_listTagsLast(client: MemoryClient, tagged: list[str]) -> None:
    """03_discovery_test.go: GET start of tag is set by `last` query parameter."""
    n = len(tagged) // 2
    first = oci.tagList(client, REPO1, n=str(n))
    assert first is not None
    rest = oci.tagList(client, REPO1, n=str(n), last=first[-1])
    assert rest == sorted(tagged)[n:2 * n]


@pytest.mark.parametrize("name", [n for n in oci.DATA_SETS if n != "bad-digest-image"])
def test_discovery_tagList(client: MemoryClient, name: str) -> None:
    """run.go TestList: every pushed tag is listed; `last` drops the first half exactly."""
    td = oci.generate(name)
    oci.pushData(client, td)
    tags = oci.tagList(client, REPO1)
    assert tags is not None or not td.tags
    tags = tags or []
    assert set(td.tags) <= set(tags)
    if len(tags) >= 2:
        ordered = sorted(tags)
        end = len(ordered) // 2
        partial = oci.tagList(client, REPO1, last=ordered[end - 1])
        assert partial is not None
        assert not set(ordered[:end]) & set(partial)
        assert set(ordered[end:]) <= set(partial)


def matches(entry: dict, goal: dict) -> bool:
    """Go's comparison of a referrers entry with the expected descriptor."""
    return (entry.get("digest") == goal["digest"]
            and entry.get("mediaType") == goal["mediaType"]
            and entry.get("size") == goal["size"]
            and entry.get("artifactType", "") == goal.get("artifactType", "")
            and all((entry.get("annotations") or {}).get(k) == v
                    for k, v in (goal.get("annotations") or {}).items()))


@pytest.mark.parametrize("name", oci.REFERRER_SETS)
def test_discovery_referrers(client: MemoryClient, name: str) -> None:
    """run.go TestReferrers: every referrer of each subject is listed with its descriptor."""
    td = oci.generate(name)
    oci.pushData(client, td)
    for subject, goals in td.referrers.items():
        _, index = oci.referrersList(client, REPO1, subject)
        for goal in goals:
            assert any(matches(e, goal) for e in index["manifests"]), (
                f"entry missing from referrers list: {goal}")


@pytest.mark.parametrize("name", oci.REFERRER_SETS)
def test_discovery_referrersArtifactTypeFilter(client: MemoryClient, name: str) -> None:
    """run.go TestReferrers: ?artifactType= sets OCI-Filters-Applied and lists only that type."""
    td = oci.generate(name)
    oci.pushData(client, td)
    for subject, goals in td.referrers.items():
        for artifactType in {g.get("artifactType", "") for g in goals}:
            response, index = oci.referrersList(client, REPO1, subject, artifactType)
            applied = [f.strip() for f in
                       (response.header("OCI-Filters-Applied") or "").split(",")]
            assert "artifactType" in applied, "OCI-Filters-Applied lacks artifactType"
            for goal in goals:
                if goal.get("artifactType", "") == artifactType:
                    assert any(matches(e, goal) for e in index["manifests"])
            assert all(e.get("artifactType", "") == artifactType for e in index["manifests"])


@pytest.mark.parametrize("name", oci.REFERRER_SETS)
def test_discovery_manifestPutOCISubject(client: MemoryClient, name: str) -> None:
    """api.go ManifestPut: a manifest with a subject answers 201 with OCI-Subject."""
    td = oci.generate(name)
    for dig, body in td.blobs.items():
        oci.pushBlobAny(client, REPO1, dig, body)
    withSubject = [d for d in td.manOrder if oci.subjectOf(td.manifests[d])]
    assert withSubject
    for dig in td.manOrder:
        response = oci.manifestPut(client, REPO1, dig, dig, td.manifests[dig])
        if dig in withSubject:
            assert response.header("OCI-Subject") == oci.subjectOf(td.manifests[dig])


# 03_discovery_test.go "listing references"

@pytest.fixture
def referred(client: MemoryClient) -> tuple[oci.TestData, str, str, dict[str, str]]:
    """
    The classic references setup: five referrers of one image (two of type
    A), one referrer of a missing subject, each with one annotation.
    """
    td = oci.TestData("references")
    typeA, typeB = "application/vnd.nhl.peanut.butter.bagel", "application/vnd.nba.strawberry.jam"
    image = td.genManifestFull(tag="tagtest0")
    subject = dict(td.desc[image])
    missing = {"mediaType": oci.MT_OCI_IMAGE, "size": 99, "digest": oci.randomDigest()}
    values: dict[str, str] = {}
    artifact = {"layerCount": 1, "annotationUniq": False}

    def note(dig: str) -> str:
        values[dig] = json.loads(td.manifests[dig])["annotations"]["org.opencontainers.conformance.test"]
        return dig

    for n, at in enumerate([typeA, typeB]):
        note(td.genManifestFull(configMediaType=at, configBytes=b"{}", layerMediaType=at,
                                subject=subject, annotations={
                                    "org.opencontainers.conformance.test": f"config-{n}"},
                                **artifact))
        note(td.genManifestFull(artifactType=at, configMediaType=oci.MT_OCI_EMPTY_JSON,
                                configBytes=b"{}", layerMediaType=at, subject=subject,
                                annotations={"org.opencontainers.conformance.test":
                                             f"layer-{n}"}, **artifact))
    note(td.genIndex([], [], artifactType=typeB, subject=subject,
                     annotations={"org.opencontainers.conformance.test": "index"}))
    orphan = note(td.genManifestFull(artifactType=typeA, configMediaType=oci.MT_OCI_EMPTY_JSON,
                                     configBytes=b"{}", layerMediaType=typeA, subject=missing,
                                     annotations={"org.opencontainers.conformance.test":
                                                  "orphan"}, **artifact))
    oci.pushData(client, td)
    return td, image, typeA, values | {"missing": missing["digest"], "orphan": orphan}


def test_discovery_referrersNonexistent(client: MemoryClient, referred: tuple) -> None:
    """03_discovery_test.go: GET referrers of a nonexistent blob is an empty 200 index."""
    response, index = oci.referrersList(client, REPO1, oci.randomDigest())
    assert response.header("Content-Type") == oci.MT_OCI_INDEX
    assert index["manifests"] == []


def test_discovery_referrersExisting(client: MemoryClient, referred: tuple) -> None:
    """03_discovery_test.go: GET referrers of the image lists its 5 referrers with annotations."""
    td, image, _, values = referred
    _, index = oci.referrersList(client, REPO1, image)
    assert len(index["manifests"]) == 5
    assert len({e["digest"] for e in index["manifests"]}) == 5
    for entry in index["manifests"]:
        assert entry["annotations"] == {
            "org.opencontainers.conformance.test": values[entry["digest"]]}


def test_discovery_referrersFiltered(client: MemoryClient, referred: tuple) -> None:
    """03_discovery_test.go: ?artifactType= gives the 2 of that type, OCI-Filters-Applied set."""
    _, image, typeA, values = referred
    response, index = oci.referrersList(client, REPO1, image, typeA)
    assert response.header("OCI-Filters-Applied") == "artifactType"
    assert len(index["manifests"]) == 2
    for entry in index["manifests"]:
        assert entry["artifactType"] == typeA
        assert entry["annotations"] == {
            "org.opencontainers.conformance.test": values[entry["digest"]]}


def test_discovery_referrersMissingSubject(client: MemoryClient, referred: tuple) -> None:
    """03_discovery_test.go: GET referrers of a missing manifest lists its one referrer."""
    _, _, _, values = referred
    _, index = oci.referrersList(client, REPO1, values["missing"])
    assert [e["digest"] for e in index["manifests"]] == [values["orphan"]]
