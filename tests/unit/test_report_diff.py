"""`plan`'s unified diff: where lines were replaced in place it is written without difflib's
matcher, and must be the very text difflib writes; elsewhere difflib writes it."""

from __future__ import annotations

import difflib
import random
import re
from pathlib import Path

import pytest

from imagebot.model import FileEdit
from imagebot.report import diff
from tests.conftest import shared_path


def reference(path: str, before: bytes, after: bytes) -> str:
    a = before.decode().splitlines(keepends=True)
    b = after.decode().splitlines(keepends=True)
    lines = difflib.unified_diff(a, b, f"a/{path}", f"b/{path}", n=3)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def both(path: str, before: bytes, after: bytes) -> tuple[str, str]:
    return diff.unified([FileEdit(path, before, after, ())]), reference(path, before, after)


def test_a_tag_changed_in_place_reads_as_difflib_writes_it() -> None:
    before = b"a: 1\nimage: app:1.0\nb: 2\n"
    after = b"a: 1\nimage: app:1.1\nb: 2\n"
    got, want = both("x.yaml", before, after)
    assert got == want == "--- a/x.yaml\n+++ b/x.yaml\n@@ -1,3 +1,3 @@\n a: 1\n-image: app:1.0\n+image: app:1.1\n b: 2\n"


@pytest.mark.parametrize("seed", range(400))
def test_generated_files_with_repeated_lines_give_difflibs_text(seed: int) -> None:
    """Files of 1-400 lines from a small vocabulary (repeated lines; difflib treats lines seen in
    over 1% of a 200+-line file as junk), 1-6 lines replaced, sometimes with a neighbour's text
    or a line found elsewhere (difflib then decides), CRLF or no final newline now and then."""
    rnd = random.Random(seed)
    vocab = [f"    key{k}: value{k}" for k in range(rnd.choice([3, 8, 40]))] + ["---", "  - name: app", ""]
    size = rnd.choice([1, 2, 5, 12, 60, 220, 400])
    lines = [rnd.choice(vocab) for _ in range(size)]
    new = list(lines)
    for _ in range(rnd.randint(1, 6)):
        i = rnd.randrange(size)
        new[i] = rnd.choice([f"    image: app:{rnd.randint(0, 9)}.{rnd.randint(0, 99)}", rnd.choice(lines), new[i] + "x"])
    eol = "\r\n" if rnd.random() < 0.2 else "\n"
    last = "" if rnd.random() < 0.2 else eol
    before, after = (eol.join(ls).encode() + last.encode() for ls in (lines, new))
    got, want = both("f.yaml", before, after)
    assert got == want


def test_lines_added_or_removed_are_left_to_difflib() -> None:
    before = b"a\nb\nc\n"
    after = b"a\nb\nb2\nc\n"
    got, want = both("x", before, after)
    assert got == want and "+b2\n" in got


def test_no_change_no_diff() -> None:
    assert diff.unified([FileEdit("x", b"a\n", b"a\n", ())]) == ""


def test_the_real_world_corpus_with_every_tag_bumped_gives_difflibs_text() -> None:
    """Every `tag:` / `image: ...:tag` line of the real-world files given a new tag, as plan would."""
    root = shared_path("realworld")  # skips in a plain clone
    files = sorted(p for p in Path(root).rglob("*.yaml") if p.is_file())
    assert files
    bumped = 0
    for p in files:
        before = p.read_bytes()
        try:
            text = before.decode()
        except UnicodeDecodeError:
            continue
        after = re.sub(r"(?m)^(\s*(?:-\s+)?(?:tag|image):\s+\S+?:?)([0-9][\w.-]*)$", r"\g<1>\g<2>-next", text)
        if after == text:
            continue
        bumped += 1
        got, want = both(p.name, before, after.encode())
        assert got == want, p
    assert bumped > 10

