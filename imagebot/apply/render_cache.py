"""apply's proven answers for one file, kept on disk: the same bytes and the same changes give
the same edit, so a second `plan` (or `run --once` with a persisted cache) does not parse and
verify the file again.

`edit_file` is a pure function of the file's bytes and the changes (where each value is, what
it was, what it becomes) - and of apply's own code. The cache key is a SHA-256 of all three
(the code by the text of the modules that decide an edit), the value the splices that were
proven (offset, end, token) and the refusals with their reasons.

Never trusted blindly: a file of another tool, format or code version, or that does not parse,
is ignored (and replaced at the end of the run); a hit is used only when every splice still
fits the text - in bounds, in order, the old value exactly where it was, and the token the one
`render_token` makes for the new value - so a damaged entry can at most cost the re-computation.
Only the entries this run used are written back (atomically), so the file stays the size of one
plan.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imagebot.apply.token import render_token
from imagebot.errors import EditError
from imagebot.model import Change
from imagebot.cachefile import code_fingerprint, load_cache_file, store_cache_file

TOOL, KIND, FORMAT = "imagebot", "render", 1
#: Modules whose text decides an edit: any change to them invalidates every entry.
_CODE = ("apply/__init__.py", "apply/splice.py", "apply/stream.py", "apply/token.py", "apply/verify.py", "discover/yamltree.py")

Cached = tuple[list[tuple[int, int, int, str]], list[tuple[int, str]]]  # (index, start, end, token), (index, reason)


def _code_fingerprint() -> str:
    return code_fingerprint(f"{TOOL}/{KIND}/{FORMAT}", _CODE)


class RenderCache:
    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self._code = _code_fingerprint()
        self._old: dict[str, Any] = {}
        self._new: dict[str, Any] = {}
        self._loaded = False
        self.hits = self.misses = 0

    def key(self, before: bytes, changes: Sequence[Change]) -> str:
        """SHA-256 of the bytes and of each change's place and values, as one repr (a str's repr
        is unambiguous; one encoding per file, not one per change)."""
        h = hashlib.sha256(before)
        h.update(repr([(c.occurrence.location.file, c.occurrence.location.line, c.occurrence.location.column,
                        c.occurrence.document, c.old, c.new) for c in changes]).encode())
        return h.hexdigest()

    def get(self, key: str, text: str, changes: Sequence[Change]) -> Cached | None:
        self._load()
        entry = self._old.get(key)
        found = _valid(entry, text, changes) if entry is not None else None
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._new[key] = entry
        return found

    def put(self, key: str, spliced: list[tuple[int, int, int, str]], refused: list[tuple[int, str]]) -> None:
        self._new[key] = {"splices": [list(s) for s in spliced], "refused": [list(r) for r in refused]}

    def save(self) -> None:
        """Write the entries this run used or made (nothing when they are the ones loaded)."""
        if self.path is None or not self._loaded or self._new == self._old:
            return
        store_cache_file(self.path, KIND, FORMAT, self._code, "render cache", entries=self._new)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.path is None:
            return
        data = load_cache_file(self.path, KIND, FORMAT, self._code, "entries", "render cache")
        if data is None:
            return
        self._old = data["entries"]


def _valid(entry: Any, text: str, changes: Sequence[Change]) -> Cached | None:
    """The entry as splices and refusals if it fits `text` and `changes` exactly, else None."""
    try:
        splices = [(i, s, e, t) for i, s, e, t in entry["splices"]]
        refused = [(i, r) for i, r in entry["refused"]]
    except (KeyError, TypeError, ValueError):
        return None
    if any(type(i) is not int or type(r) is not str for i, r in refused):
        return None
    indices = [i for i, _ in refused]
    end = 0
    for i, start, stop, token in sorted(splices, key=_start) if len(splices) > 1 else splices:
        if type(i) is not int or type(start) is not int or type(stop) is not int or type(token) is not str:
            return None
        if not (end <= start < stop <= len(text)) or not 0 <= i < len(changes):
            return None
        indices.append(i)
        end = stop
        raw, change = text[start:stop], changes[i]
        quote = raw[0] if raw[:1] in ("'", '"') else None
        inner = raw[1:-1] if quote and len(raw) >= 2 and raw.endswith(quote) else (None if quote else raw)
        try:
            if inner != change.old or token != _token(change.new, quote):
                return None
        except EditError:
            return None
    if sorted(indices) != list(range(len(changes))):
        return None
    return splices, refused


def _start(splice: tuple[int, int, int, str]) -> int:
    return splice[1]


#: render_token, memoized: a plan writes the same new value in many files (bounded: an agent runs for months).
_token = functools.lru_cache(maxsize=4096)(render_token)
