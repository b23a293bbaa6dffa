"""
The distribution: the wheel holds the package and the twistd plugin (without
claiming Twisted's C{twisted/} or C{twisted/plugins/} packages), and once
installed in a fresh virtualenv, C{twistd} offers the C{registry} command.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Left out of the copy of the tree the wheel is built from.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".tox",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "dropin.cache",
    "_trial_temp",
    "txregistry-data",
)


def _child_environ() -> dict[str, str]:
    """
    @return: our environment without anything that would put the source
        tree or our own site-packages on a child's path.
    """
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(name, None)
    return env


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=_child_environ(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (
        f"{' '.join(argv)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """
    A wheel built with C{python -m build} from a clean copy of the tree (so
    that stale C{build/} output cannot leak into it).
    """
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    shutil.copytree(REPO_ROOT, source, ignore=_NOT_SOURCE)
    dist = base / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist)], source)
    [built] = dist.glob("txregistry-*.whl")
    return built


def test_wheelContents(wheel: Path) -> None:
    """The wheel has the plugin in twisted/plugins/ but no twisted/__init__.py
    nor twisted/plugins/__init__.py, and every txregistry module."""
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "twisted/plugins/txregistry_plugin.py" in names
    assert "twisted/__init__.py" not in names
    assert "twisted/plugins/__init__.py" not in names
    assert not [n for n in names if n.endswith("dropin.cache")]
    assert not [n for n in names if n.startswith("tests/")]

    expected = {
        p.relative_to(REPO_ROOT).as_posix()
        for p in (REPO_ROOT / "txregistry").rglob("*")
        if p.suffix in {".py", ".yml", ".yaml"} and "__pycache__" not in p.parts
    }
    assert {"txregistry/__init__.py", "txregistry/tap.py"} <= expected
    assert expected <= names, sorted(expected - names)
    twisted_files = {n for n in names if n.startswith("twisted/")}
    assert twisted_files == {"twisted/plugins/txregistry_plugin.py"}


def test_installedTwistdListsRegistry(wheel: Path, tmp_path: Path) -> None:
    """In a fresh virtualenv with the wheel installed, twistd --help lists the
    registry command beside Twisted's own, and twistd registry --help works."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    bin_dir = venv / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp_path)

    usage = _run([str(bin_dir / "twistd"), "--help"], tmp_path).stdout
    commands = [
        line.split()[0]
        for line in usage.splitlines()
        if line.startswith("    ") and line.split()
    ]
    assert "registry" in commands, usage
    assert "web" in commands, usage

    registry_usage = _run(
        [str(bin_dir / "twistd"), "registry", "--help"], tmp_path
    ).stdout
    assert "--config=" in registry_usage, registry_usage
    assert "--listen=" in registry_usage, registry_usage

    # The plugin came from the wheel, not from the source tree.
    located = _run(
        [
            str(bin_dir / "python"),
            "-c",
            "import txregistry.tap; print(txregistry.tap.__file__)",
        ],
        tmp_path,
    ).stdout
    assert Path(located.strip()).is_relative_to(venv), located


#: Modules made for tests, which production code must not import.
_TEST_MODULES = ("twisted.internet.testing", "twisted.test", "twisted.trial")


def test_noTestModulesImported() -> None:
    """No module of the package imports one of Twisted's test helpers."""
    offenders = []
    for source in sorted((REPO_ROOT / "txregistry").rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                names = [node.module]
            else:
                continue
            offenders += [f"{source.relative_to(REPO_ROOT)}:{node.lineno}: {name}"
                          for name in names
                          if name in _TEST_MODULES or name.startswith(
                              tuple(m + "." for m in _TEST_MODULES))]
    assert offenders == []
