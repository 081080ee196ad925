"""The repository documents itself: no reference in it points at a document it does not hold.

Comments, docstrings and docs pages point at ``docs/*.md`` (docs/development.md, "House style").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve()

# Where the project's text lives: the tracked files under these, when there is no git checkout
# (an unpacked sdist) every file under them.
ROOTS = ("src", "tests", "benchmarks", "scripts", "docs", ".ci",
         "README.md", "setup.py", "pyproject.toml", "MANIFEST.in")

# Documents that were never part of the repository, however they are cited.
OUTSIDE = re.compile(r"SPEC\s*§|SPEC\.md|STYLE\.md|\bSTYLE \d")


def _tracked_files() -> list[Path]:
    """The files of ROOTS that git tracks, or every file under them outside a git checkout."""
    git = shutil.which("git")
    if git and (REPO / ".git").exists():
        out = subprocess.run(
            [git, "ls-files", "-z", "--", *ROOTS], cwd=REPO, capture_output=True, check=False,
            env={"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1"},
        )
        if out.returncode == 0:
            return [REPO / os.fsdecode(p) for p in out.stdout.split(b"\0") if p]
    files: list[Path] = []
    for root in ROOTS:
        path = REPO / root
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file())
    return files


def test_no_reference_outside_the_repository() -> None:
    files = [p for p in _tracked_files() if p.resolve() != THIS and p.is_file()]
    assert any(p.name == "README.md" for p in files) and any(p.suffix == ".py" for p in files)
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):  # binary data (the fuzz corpus), not prose
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, (
        "references to documents outside the repository; point at the docs/*.md page and "
        "section that says it instead:\n" + "\n".join(found)
    )
