"""
The README's test command works on a fresh machine as written, and is the
command CI runs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path


def readmeTestCommand(root: Path) -> str:
    """
    @return: the command of the README's "Tests" section: the first
        literal block after "One command runs the whole test suite".
    """
    text = (root / "README.rst").read_text()
    section = text[text.index("One command runs the whole test suite"):]
    match = re.search(r"::\n\n((?:    .*\n)+)", section)
    assert match is not None, "no literal block in the README's Tests section"
    lines = [line.strip() for line in match.group(1).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_ciRunsTheReadmeCommand(repo_root: Path) -> None:
    """.ci/run runs the README's test command word for word."""
    command = readmeTestCommand(repo_root)
    script = (repo_root / ".ci" / "run").read_text().splitlines()
    steps = [line for line in script if line.strip() and not line.startswith("#")]
    assert steps[-1] == command, (steps[-1], command)


def test_readmeCommandNeedsOnlyPython(repo_root: Path) -> None:
    """Every program the README's test command runs is python3 or was
    installed by an earlier step of the command (tox is not assumed on a
    fresh machine)."""
    made: list[str] = []
    for step in readmeTestCommand(repo_root).split("&&"):
        argv = shlex.split(step)
        program = argv[0]
        assert program == "python3" or any(
            program.startswith(f"{venv}/bin/") for venv in made), (program, made)
        if argv[:3] == ["python3", "-m", "venv"]:
            made.append(argv[3])
