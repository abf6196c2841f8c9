"""apply: splice new scalar values into the original bytes, and prove nothing else changed.

Pure: reads files, never writes them (deliver writes). A YAML file is never re-dumped; each
value is located with ruamel.yaml, replaced in the original text in the style it was written in
(see :mod:`imagebot.apply.token`), and the result is parsed again and compared node by node
with the original (:mod:`imagebot.apply.verify`). The common case - a file libyaml parses, without
anchors, every change safe - is made and proven on flat event streams instead
(:mod:`imagebot.apply.stream`): the same proof without building either tree.

Partial files: when one change in a file cannot be made safely, it is refused with its reason
and the file's other changes still apply - each of them proven on its own against the
original. A file is left untouched only when none of its changes is safe.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

from imagebot.apply import stream
from imagebot.apply.render_cache import RenderCache
from imagebot.apply.splice import Locator, Splice, conflicts, prepare, splice
from imagebot.apply.verify import verify
from imagebot.discover.yamltree import YAMLError, compose, decode, error_line, error_text
from imagebot import cores, filebytes
from imagebot.errors import EditError
from imagebot.model import Change, FileEdit, Location, Refusal, Rendered

__all__ = ["RenderCache", "edit_text", "render", "edit_file"]


def render(root: pathlib.Path, changes: Sequence[Change], cache: RenderCache | None = None) -> Rendered:
    """Compute the new bytes of every file the changes touch (files are read, not written).
    `cache`: proven edits of earlier runs (see render_cache), used and kept up to date. The
    files the cache does not answer are edited and proven on two cores when there are many
    (:mod:`imagebot.cores`: a cold render parses each of them twice)."""
    by_file: dict[str, list[Change]] = {}
    for c in changes:
        by_file.setdefault(c.file, []).append(c)
    files = sorted(by_file)
    done: dict[str, tuple[bytes, bytes, list[Change], list[Refusal]]] = {}  # file: (before, after, applied, refused)
    misses: list[tuple[str, str | None, bytes, list[Change]]] = []  # (file, cache key or None, before, changes)
    base = os.fspath(root)
    for file in files:
        file_changes = by_file[file]
        try:
            before = filebytes.read(f"{base}/{file}")  # a str path: a Path per file costs more than the read
        except OSError as exc:
            done[file] = (b"", b"", [], [Refusal(c, f"cannot read {file}: {exc.strerror or exc}") for c in file_changes])
            continue
        key, hit = _cached(before, file_changes, cache) if cache is not None else (None, None)
        if hit is not None:
            done[file] = (before, *hit)
        else:
            misses.append((file, key, before, file_changes))
    jobs = [(file, (before, _compact(file_changes))) for file, _, before, file_changes in misses]
    for (file, key, before, file_changes), (after, applied_at, refused_at, record) in zip(
            misses, cores.parse_files(jobs, _edit_job, _edit_job, ()), strict=True):
        if cache is not None and key is not None:
            cache.put(key, record, refused_at)
        done[file] = (before, after, [file_changes[i] for i in applied_at],
                      [Refusal(file_changes[i], why) for i, why in refused_at])
    edits: list[FileEdit] = []
    refused: list[Refusal] = []
    for file in files:
        before, after, applied, file_refused = done[file]
        refused += file_refused
        if applied and after != before:
            edits.append(FileEdit(file, before, after, tuple(applied)))
    if cache is not None:
        cache.save()
    return Rendered(tuple(edits), tuple(refused))


def _cached(before: bytes, changes: Sequence[Change],
            cache: RenderCache) -> tuple[str | None, tuple[bytes, list[Change], list[Refusal]] | None]:
    """(the cache key, (after, applied, refused) as the cache holds them for this very input, or
    None: compute it). The key is None for a file that is not UTF-8: its refusal is not kept."""
    key = cache.key(before, changes)
    try:
        bom, text = decode(before)
    except UnicodeDecodeError:
        return None, None
    hit = cache.get(key, text, changes)
    if hit is None:
        return key, None
    spliced, refused_at = hit
    refused = [Refusal(changes[i], why) for i, why in refused_at]
    if not spliced:
        return key, (before, [], refused)
    new_text = splice(text, [Splice(s, e, t, changes[i], None) for i, s, e, t in spliced])  # type: ignore[arg-type]
    return key, ((bom + new_text).encode("utf-8"), [changes[i] for i, *_ in spliced], refused)


@dataclass(frozen=True, slots=True)
class _Where:
    """What an edit reads of an occurrence: where its value is."""

    location: Location
    document: int


@dataclass(frozen=True, slots=True)
class _Edit:
    """What an edit reads of a Change (`occurrence.location`, `occurrence.document`, `old`, `new`):
    a render job carries these, not whole Changes (the parsing worker gets them pickled; a
    Change with its occurrence and policy costs several times as much to pickle)."""

    occurrence: _Where
    old: str
    new: str


def _compact(changes: Sequence[Change]) -> tuple[tuple[int, int, int, str, str], ...]:
    return tuple((c.occurrence.location.line, c.occurrence.location.column, c.occurrence.document, c.old, c.new)
                 for c in changes)


def _edit_job(file: str, job: tuple[bytes, Sequence[tuple[int, int, int, str, str]]]
              ) -> tuple[bytes, list[int], list[tuple[int, str]], list[tuple[int, int, int, str]]]:
    """edit_file for one file, its answer by change index (it may come from the parsing worker):
    (after, applied, (refused, reason), splices made for the cache). `job`: the bytes and, per
    change, (line, column, document, old, new) (see `_compact`)."""
    before, compact = job
    changes = [_Edit(_Where(Location(file, line, column), document), old, new)
               for line, column, document, old, new in compact]
    record: list[tuple[int, int, int, str]] = []
    after, applied, refused = edit_file(before, changes, record)  # type: ignore[arg-type]
    index = {id(c): i for i, c in enumerate(changes)}
    return after, [index[id(c)] for c in applied], [(index[id(r.change)], r.reason) for r in refused], record


def edit_text(text_bytes: bytes, changes: Sequence[Change]) -> bytes:
    """All the changes applied to one file's bytes, or EditError naming the first refusal."""
    after, _, refused = edit_file(text_bytes, changes)
    if refused:
        first = refused[0]
        raise EditError(f"{first.change.occurrence.location}: {first.reason}")
    return after


def edit_file(before: bytes, changes: Sequence[Change],
              record: list[tuple[int, int, int, str]] | None = None) -> tuple[bytes, list[Change], list[Refusal]]:
    """(new bytes, changes made, changes refused) for one file; the safe changes all apply.
    `record` receives (change index, start, end, token) of each splice made (for the cache)."""
    if not changes:
        return before, [], []
    try:
        bom, text = decode(before)
    except UnicodeDecodeError as exc:
        return before, [], [Refusal(c, f"the file is not UTF-8 (byte {exc.start})") for c in changes]
    fast = stream.edit(text, changes)  # the common case, proven on event streams; None: compose
    if fast is not None:
        new_text, accepted = fast
        return _made(bom, new_text, changes, accepted, [], record)
    try:
        docs = compose(text)
    except YAMLError as exc:
        reason = f"the file is not valid YAML (line {error_line(exc)}: {error_text(exc)})"
        return before, [], [Refusal(c, reason) for c in changes]

    locator = Locator(docs)
    refused: list[Refusal] = []
    ready: list[Splice] = []
    for c in changes:
        try:
            ready.append(prepare(text, locator, c))
        except EditError as exc:
            refused.append(Refusal(c, str(exc)))
    clashes = conflicts(ready)
    refused += [Refusal(ready[i].change, why) for i, why in clashes.items()]
    ready = [s for i, s in enumerate(ready) if i not in clashes]

    try:  # the common case: everything at once, one parse to prove it
        new_text = _proven(text, docs, ready)
        accepted = ready
    except EditError:  # find the culprits: add the splices one at a time, each proven
        accepted, new_text = [], text
        for s in ready:
            try:
                new_text = _proven(text, docs, accepted + [s])
                accepted.append(s)
            except EditError as exc:
                refused.append(Refusal(s.change, str(exc)))
    if not accepted:
        return before, [], refused
    return _made(bom, new_text, changes, accepted, refused, record)


def _made(bom: str, new_text: str, changes: Sequence[Change], accepted: list[Splice], refused: list[Refusal],
          record: list[tuple[int, int, int, str]] | None) -> tuple[bytes, list[Change], list[Refusal]]:
    if record is not None:
        index = {id(c): i for i, c in enumerate(changes)}
        record += [(index[id(s.change)], s.start, s.end, s.token) for s in accepted]
    return (bom + new_text).encode("utf-8"), [s.change for s in accepted], refused


def _proven(text: str, docs: list, splices: list[Splice]) -> str:
    new_text = splice(text, splices)
    verify(docs, new_text, {id(s.node): s.change.new for s in splices})
    return new_text
