"""
The C{txregistry} command run as a process (C{python -m txregistry.cli})
on the storage root and configuration of a real C{twistd -n registry} that
skopeo pushed into.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import yaml
from harness import (
    OCI_MANIFEST,
    OCILayout,
    Registries,
    RegistryProcess,
    clean_environ,
    http_request,
    skopeo,
)


def txregistry(*argv: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """
    Run the C{txregistry} command of the code under test.
    """
    return subprocess.run([sys.executable, "-m", "txregistry.cli", *argv],
                          capture_output=True, text=True, timeout=120,
                          env=clean_environ(**environ))


def imageBlobs(server: RegistryProcess, name: str, tag: str) -> dict[str, int]:
    """
    @return: the size of every blob of image C{name:tag} as the registry
        serves it: its manifest, config and layers, by digest.
    """
    status, headers, body = http_request(server.base_url, "GET", f"/v2/{name}/manifests/{tag}",
                                         headers={"Accept": OCI_MANIFEST})
    assert status == 200
    manifest = json.loads(body)
    sizes = {headers["Docker-Content-Digest"]: len(body)}
    for descriptor in [manifest["config"], *manifest["layers"]]:
        sizes[descriptor["digest"]] = descriptor["size"]
    return sizes


def test_cli_on_a_pushed_registry(
    registries: Registries, make_layout: Callable[[str], OCILayout]
) -> None:
    """
    C{du} reports the sizes of the blobs skopeo pushed, a shared image
    counted in each repository and once in the total; C{check-config} masks
    the configured C{http.secret}; an invalid configuration exits 1 with
    the key's path; C{purge-uploads} deletes an abandoned upload.
    """
    server = registries.txregistry()
    config = server.cwd / "config.yml"
    shared, own = make_layout("shared"), make_layout("own")
    shared.tag("v1", shared.add_image())
    own.tag("v1", own.add_image(layers=3))
    for layout, ref in [(shared, "one/app:v1"), (shared, "two:v1"), (own, "two:own")]:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.path}:v1",
               f"docker://{server.host}/{ref}")
    status, _, _ = http_request(server.base_url, "POST", "/v2/two/blobs/uploads/")
    assert status == 202

    result = txregistry("du", "--json", str(config))
    assert (result.returncode, result.stderr) == (0, "")
    one = imageBlobs(server, "one/app", "v1")
    two = {**imageBlobs(server, "two", "v1"), **imageBlobs(server, "two", "own")}
    assert json.loads(result.stdout) == {
        "repositories": sorted(
            [{"name": "one/app", "blobs": len(one), "bytes": sum(one.values())},
             {"name": "two", "blobs": len(two), "bytes": sum(two.values())}],
            key=lambda r: -r["bytes"]),
        "total": {"blobs": len(two), "bytes": sum(two.values())},
        "missing": 0,
    }

    result = txregistry("check-config", str(config))
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["http"]["secret"] == "***"
    assert "integration-tests" not in result.stdout

    result = txregistry("check-config", str(config), REGISTRY_HTTP_SECRET="env-secret-value")
    assert result.returncode == 0, result.stderr
    assert "env-secret-value" not in result.stdout

    bad = server.cwd / "bad.yml"
    bad.write_text(config.read_text() + "catalog:\n  maxentries: lots\n")
    result = txregistry("check-config", str(bad))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"txregistry: invalid configuration {bad}: catalog.maxentries")
    assert result.stderr.count("\n") == 1

    result = txregistry("purge-uploads", str(config), "--older-than", "0s")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(
        "deleted /docker/registry/v2/repositories/two/_uploads/")
    assert lines[1] == "1 uploads deleted, 0 kept, 0 errors"

    version = txregistry("version")
    assert version.returncode == 0
    assert version.stdout.startswith("txregistry ")
