"""
Retention rules (C{storage.maintenance.retention}) against a real C{twistd
-n registry}: the pulls it records when stopped, then C{txregistry
garbage-collect} run as a process, first with C{--dry-run}.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from harness import (
    OCI_INDEX,
    OCI_MANIFEST,
    OCILayout,
    Registries,
    RegistryProcess,
    assert_same_image,
    clean_environ,
    http_request,
    image_blobs,
    make_txregistry,
    skopeo,
)

#: Keep the release tag pushed last and the tags pulled within the hour;
#: delete the manifests left untagged at once.
RULES = [{
    "repositories": ["team/*"],
    "keeptags": [
        {"patterns": [r"^v\d"], "mostrecentlypushed": 1},
        {"pulledwithin": "1h"},
    ],
    "untaggedolderthan": "0s",
}]


def start(registries: Registries, root: Path, name: str) -> RegistryProcess:
    """
    Start C{twistd -n registry} on C{root} with L{RULES}.
    """
    process = make_txregistry(registries.tmp_path / name, root)
    config = yaml.safe_load((process.cwd / "config.yml").read_text())
    config["storage"]["maintenance"] = {"retention": RULES}
    (process.cwd / "config.yml").write_text(yaml.safe_dump(config))
    registries.processes.append(process)
    return process.start()


def garbageCollect(server: RegistryProcess, *options: str) -> subprocess.CompletedProcess[str]:
    """
    Run C{txregistry garbage-collect} on C{server}'s configuration.
    """
    done = subprocess.run(
        [sys.executable, "-m", "txregistry.cli", "garbage-collect",
         str(server.cwd / "config.yml"), *options],
        capture_output=True, text=True, timeout=120, env=clean_environ())
    assert done.returncode == 0, done.stderr
    return done


def files(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_size
            for path in root.rglob("*") if path.is_file()}


def manifestDigest(server: RegistryProcess, name: str, tag: str, method: str = "GET") -> str:
    status, headers, _ = http_request(server.base_url, method, f"/v2/{name}/manifests/{tag}",
                                      headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"})
    assert status == 200
    return str(headers["Docker-Content-Digest"])


def tags(server: RegistryProcess, name: str) -> list[str]:
    status, _, body = http_request(server.base_url, "GET", f"/v2/{name}/tags/list")
    assert status == 200
    return sorted(yaml.safe_load(body)["tags"] or [])


def test_retention_dry_run_then_collect(
    registries: Registries, make_layout: Callable[[str], OCILayout], tmp_path: Path
) -> None:
    """
    The dry run names exactly the tags the rules drop (neither the release
    tag pushed last, an index whose children are untagged, nor the tags
    pulled by GET; a HEAD is no pull), the manifests they leave untagged and
    the blobs no other repository needs, and deletes nothing; the real run
    deletes those, and the kept images, and a repository no rule matches,
    still pull whole.
    """
    layout = make_layout("source")
    images: dict[str, dict[str, Any]] = {}
    for tag in ("v1.0", "v1.1", "dev-1", "dev-2"):
        images[tag] = layout.add_image("amd64", layers=1)
        layout.tag(tag, images[tag])
    images["v2.0"] = layout.add_index([layout.add_image("amd64", layers=1),
                                       layout.add_image("arm64", layers=1)])
    layout.tag("v2.0", images["v2.0"])

    root = tmp_path / "storage"
    server = start(registries, root, "first")
    for tag in ("v1.0", "v1.1", "dev-1", "dev-2", "v2.0"):
        skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout.path}:{tag}",
               f"docker://{server.host}/team/app:{tag}")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.path}:dev-1",
           f"docker://{server.host}/other/app:dev-1")
    manifestDigest(server, "team/app", "v1.0")
    manifestDigest(server, "team/app", "dev-2")
    manifestDigest(server, "team/app", "v1.1", method="HEAD")
    server.stop()
    pulled = root / "docker/registry/v2/repositories/team/app/_txregistry/pulled"
    assert sorted(path.name for path in pulled.iterdir()) == ["dev-2", "v1.0"]

    doomed = {"v1.1", "dev-1"}
    # other/app still needs the blobs of dev-1.
    blobs = set(image_blobs(layout.path, images["v1.1"]["digest"]))
    before = files(root)
    report = garbageCollect(server, "--dry-run").stdout.splitlines()
    assert sorted(line for line in report if " tag " in line) == [
        f"would delete tag team/app:{tag} (retention: rule 1)" for tag in sorted(doomed)]
    assert sorted(line for line in report if " manifest " in line) == sorted(
        f"would delete manifest team/app@{images[tag]['digest']} "
        "(retention: rule 1: untagged for more than 0s)" for tag in doomed)
    assert {line.split()[3] for line in report if " blob " in line} == blobs
    assert report[-1].startswith(
        f"dry run: {len(blobs)} blobs, 2 manifests, 2 tags would be removed")
    assert files(root) == before

    report = garbageCollect(server).stdout.splitlines()
    assert report[-1].startswith(f"{len(blobs)} blobs, 2 manifests, 2 tags removed")
    server = start(registries, root, "second")
    assert tags(server, "team/app") == ["dev-2", "v1.0", "v2.0"]
    assert tags(server, "other/app") == ["dev-1"]
    for name, tag in [("team/app", "v1.0"), ("team/app", "dev-2"), ("team/app", "v2.0"),
                      ("other/app", "dev-1")]:
        back = tmp_path / f"back-{name.replace('/', '-')}-{tag}"
        skopeo("copy", "--all", "--src-tls-verify=false",
               f"docker://{server.host}/{name}:{tag}", f"oci:{back}:{tag}")
        assert_same_image(layout.path, tag, back, tag)
    for tag in doomed:
        status, _, _ = http_request(server.base_url, "GET",
                                    f"/v2/team/app/manifests/{images[tag]['digest']}")
        assert status == 404
