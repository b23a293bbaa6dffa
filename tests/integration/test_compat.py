"""
txregistry and distribution share one on-disk layout: each serves what the
other stored.
"""

from __future__ import annotations

from pathlib import Path

from harness import CLEAN_EXITS, OCILayout, Registries, assert_same_image, skopeo


def _push(host: str, layout: OCILayout, repo: str) -> str:
    ref = f"docker://{host}/{repo}"
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout.path}:v1", ref)
    return repo


def _pull(host: str, repo: str, dest: Path) -> None:
    skopeo(
        "copy",
        "--all",
        "--src-tls-verify=false",
        f"docker://{host}/{repo}",
        f"oci:{dest}:v1",
    )


def test_distribution_serves_txregistry_storage(
    registries: Registries, single_image: OCILayout, tmp_path: Path
) -> None:
    """An image pushed to txregistry is pulled intact from distribution
    serving the same root directory."""
    root = tmp_path / "shared-root"
    ours = registries.txregistry(root)
    _push(ours.host, single_image, "demo/app:v1")
    assert ours.stop() in CLEAN_EXITS
    assert "Server Shut Down." in ours.log()

    theirs = registries.distribution(root)
    _pull(theirs.host, "demo/app:v1", tmp_path / "back")
    assert_same_image(single_image.path, "v1", tmp_path / "back", "v1")


def test_txregistry_serves_distribution_storage(
    registries: Registries, single_image: OCILayout, tmp_path: Path
) -> None:
    """An image pushed to distribution is pulled intact from txregistry
    serving the same root directory."""
    root = tmp_path / "shared-root"
    theirs = registries.distribution(root)
    _push(theirs.host, single_image, "demo/app:v1")
    theirs.stop()

    ours = registries.txregistry(root)
    _pull(ours.host, "demo/app:v1", tmp_path / "back")
    assert_same_image(single_image.path, "v1", tmp_path / "back", "v1")


def test_multi_arch_across_registries(
    registries: Registries, make_layout, tmp_path: Path
) -> None:
    """A multi-arch index pushed to txregistry is served by distribution."""
    layout = make_layout("multi")
    layout.tag(
        "v1",
        layout.add_index([layout.add_image("amd64"), layout.add_image("arm64")]),
    )
    root = tmp_path / "shared-root"
    ours = registries.txregistry(root)
    _push(ours.host, layout, "demo/multi:v1")
    ours.stop()

    theirs = registries.distribution(root)
    _pull(theirs.host, "demo/multi:v1", tmp_path / "back")
    assert_same_image(layout.path, "v1", tmp_path / "back", "v1")
