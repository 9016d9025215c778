"""The repository stands alone: no tracked file cites a path of the machine it was written on.

Code, tests, docs, benchmark usage lines and recorded results, deploy files: a user of the
project has none of the machine's directories, nor the team's notes beside the checkout. Cite the
vendor's public URL, or a copy kept in the repository (``docs/vendors/``, ``tests/fixtures/``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Written so that this file does not match itself: the team's notes beside the checkout, the
# machine's work and temporary directories, the house-style file.
MACHINE_PATHS = re.compile(r"\.\.\/shared\/|\/work\/|\/tmp\/[a-z]|STYLE\.md|shared\/specs")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    paths = [ROOT / name for name in names.decode().split("\0") if name]
    return [p for p in paths if p.is_file() and b"\0" not in p.read_bytes()[:8000]]  # text, as git grep -I


def test_no_tracked_file_cites_a_path_of_this_machine():
    offences = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}"
        for path in tracked_text_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if MACHINE_PATHS.search(line)
    ]
    assert offences == []


def test_the_check_sees_an_offence():
    """The pattern finds each kind of path it is there for (else the test above proves nothing)."""
    samples = ("/".join(["see ..", "shared", "specs", "x.md"]), "/".join(["", "work", "main"]),
               "/".join(["workdir ", "tmp", "chaos-1"]), "STYLE" + ".md", "shared" + "/specs")
    for line in samples:
        assert MACHINE_PATHS.search(line), line
    assert not MACHINE_PATHS.search("workdir $TMPDIR/chaos-1, https://shopify.dev/docs/api")
