"""discover: the checkout -> every image reference that has an update policy.

Formats are plain functions ``find(parsed_file, claimed) -> Found`` listed in :data:`FORMATS`,
run in that order on every file that passes the text screen (:mod:`imagebot.discover.files`).
The marker formats run first: a marker on a value is the most specific statement and claims
it, so the annotation and kustomization formats skip values already claimed. A marker on a
chart's version line (Flux OCIRepository / HelmRelease / HelmChart, Argo CD Application) is read
by the chart format (:mod:`imagebot.discover.charts`) before the general one.

When config rules exist, or `everything` is asked (``imagebot inventory``, ``imagebot init``),
formats also report references nothing governs as :class:`Candidate` s (``ParsedFile.everything``):
the first matching config rule governs each (:mod:`imagebot.discover.rules`), the rest are
returned as ``Discovery.unmanaged`` and never changed. Precedence: marker, then annotation, then
config policy (kustomization), then rule. A format for another kind of reference (charts: it sets
``Occurrence.kind``) returns its unmarked references as Candidates the same way when
``pf.everything``, so that rules with ``match: {kind: chart}`` govern them and the inventory lists them.

Nothing here raises for bad input: an unreadable file, a YAML error, a malformed annotation or
marker becomes a Problem naming the file and line, and every other file is still scanned
(``imagebot validate`` prints them).
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from imagebot.discover import charts, compat, compat_argocd, compat_argocd_crd, compat_keel, image_fields, image_maps, kustomize, marked
from imagebot.discover import rules as rule_set, workloads
from imagebot.discover.cache import DiscoverCache, FileResult, Since
from imagebot.discover.configured import ConfiguredPolicy, ConfiguredRule, policies_of, rules_of
from imagebot.discover.files import mentions_references, missing, outside, walk, worth_parsing
from imagebot.discover.occurrences import policy_image
from imagebot.discover.parsed import Candidate, Found, ParsedFile
from imagebot.discover.yamltree import InputRefused, YAMLError, check_size, compose, decode, error_line, problem_text
from imagebot import cores
from imagebot.errors import ReferenceError_
from imagebot.model import Discovery, Location, Occurrence, Problem

__all__ = ["scan", "scan_file", "FORMATS", "DiscoverCache"]

log = logging.getLogger(__name__)

Format = Callable[[ParsedFile, set[tuple[int, int]]], Found]

#: Manifest formats, in the order they claim values.
FORMATS: dict[str, Format] = {
    "chart": charts.find,  # a marker on a chart's version line: before "marker", which would read a bare tag
    "marker": marked.find,
    "workload": workloads.find,
    "kustomization": kustomize.find,
    # Other tools' configuration, read only when the config opts in (`compat:`).
    compat.ARGOCD: compat_argocd.find,
    compat.KEEL: compat_keel.find,
    "image-map": image_maps.find,
    "image-field": image_fields.find,
}


def scan(
    root: pathlib.Path,
    *,
    paths: Sequence[str] = (),
    exclude: Sequence[str] = (),
    policies: Mapping[str, Any] = {},
    parse_all: bool = False,
    images: Collection[str] | None = None,
    cache: DiscoverCache | None = None,
    revision: str | None = None,
    since: Since | None = None,
    rules: Sequence[Any] = (),
    everything: bool = False,
    compat_with: Collection[str] = (),
    on_image: Callable[[str], None] | None = None,
) -> Discovery:
    """Find every image reference with a policy under `paths` (repo-relative; default: all).

    Files are screened by text first; `parse_all` parses every manifest anyway, so that
    ``imagebot validate`` also reports YAML errors in files that mention no policy.
    `images` (a webhook-targeted cycle): parse only files that can refer to these images.
    `cache` (the agent's, kept across cycles): files unchanged since the last scan are neither
    read nor parsed again; the result is the same as without it. `revision` (with `cache`): the
    Git commit `root` was just hard-reset and cleaned to; a scan at the commit of the last scan
    then neither walks nor stats the files. `since` (with `revision`): (the revision of the
    last scan, the paths whose bytes differ between it and `revision`, none added or removed);
    only those paths are looked at again.
    `policies` and `rules`: the config's (models, or values of :mod:`imagebot.discover.configured`).
    `rules` (config rules) govern the references no marker, annotation or config policy governs;
    `everything` (or any rule) finds every reference, and those nothing governs are returned as
    `Discovery.unmanaged`. `compat_with` (config `compat:`): other tools' configuration read as it
    is (:mod:`imagebot.discover.compat`). `on_image(image)`: called once per image an occurrence
    refers to, as soon as it is known (from the cache or a parse, before the scan returns; for a
    targeted scan only the `images` asked for), so that its tag listing can start early.
    """
    everything = everything or bool(rules)
    policies, rules = policies_of(policies), rules_of(rules)  # what a parsing worker unpickles without pydantic
    tools = frozenset(compat_with)
    mentions = None if images is None else _mention_tokens(images, policies)
    occurrences, problems, unmanaged = [], [], []
    scanned = parsed = 0
    announced: set[str] = set()

    def announce(found: Sequence[Occurrence]) -> None:
        for o in found:
            if o.image not in announced and not o.image.startswith(charts.PENDING) and (images is None or o.image in images):
                announced.add(o.image)
                on_image(o.image)  # type: ignore[misc]
    settings = scan_settings(policies, parse_all, everything, rules, tools)
    updaters: tuple[compat_argocd_crd.Rule, ...] = ()
    if compat.ARGOCD in tools:  # ImageUpdater resources select Applications in other files: read them first
        updaters, crd_problems = compat_argocd_crd.collect(root, walk(root, paths, exclude))
        problems += crd_problems
        settings = (*settings, updaters)
    walk_key = None if revision is None else (revision, tuple(paths), tuple(exclude))
    known = cache.files_at(root, settings, walk_key, since) if cache is not None and walk_key is not None else None
    files = known if known is not None else tuple(walk(root, paths, exclude))
    problems += [Problem("config", f"repository.paths: {p!r} does not exist in the repository") for p in missing(root, paths)]
    problems += [Problem("config", f"repository.paths: {p!r} leads outside the repository (a symbolic link): not followed")
                 for p in outside(root, paths)]
    session_of = nullcontext() if cache is None else cache.session(root, settings, walk_key, files, since)
    results: list[FileResult | Problem] = []  # the files worth parsing (or why one could not be read), in walk order
    pending: list[tuple[int, str, bytes]] = []  # (index in results, path, bytes): still to parse
    with session_of as session:
        for rel in files:
            scanned += 1
            screen = partial(_screen, policies, parse_all, everything, tools, updaters, rel)
            try:
                result = session.result(rel, screen) if session is not None else screen((root / rel).read_bytes())
            except OSError as exc:  # kept in walk order with the other files' findings
                results.append(Problem("yaml", f"cannot read the file: {exc.strerror or exc}", Location(rel), temporary=True))
                continue
            if not result.worth:
                continue
            if result.data is None and (mentions is not None or not result.parsed) and session is not None:
                try:  # a result loaded from disk, without the bytes this scan needs
                    result = session.with_data(rel, result, screen)
                except OSError as exc:
                    results.append(Problem("yaml", f"cannot read the file: {exc.strerror or exc}", Location(rel), temporary=True))
                    continue
                if not result.worth:
                    continue
            # An Application an ImageUpdater resource governs may hold only a tag: it is read in targeted scans too.
            if mentions is not None and not any(t in result.data for t in mentions) and not (  # type: ignore[operator]
                updaters and b"argoproj.io/" in result.data  # type: ignore[operator]
            ):
                continue
            if not result.parsed:
                pending.append((len(results), rel, result.data or b""))
            elif on_image is not None:
                announce(result.occurrences)
            results.append(result)
        # Parsing is most of a cold scan: on two cores when there is much of it (same findings, same order).
        parse_settings = (policies, rules, everything, tools, updaters)
        parsed_files = cores.parse_files([(rel, data) for _, rel, data in pending], partial(_scan_file_as, parse_settings),
                                            scan_file, parse_settings)
        for (index, rel, data), found in zip(pending, parsed_files, strict=True):
            result = results[index] = FileResult(True, data, True, tuple(found.occurrences), tuple(found.problems),
                                                 tuple(found.unmanaged))
            if session is not None:
                session.update(rel, result)
            if on_image is not None:
                announce(result.occurrences)
    for result in results:
        if isinstance(result, Problem):
            problems.append(result)
            continue
        parsed += 1
        occurrences += result.occurrences
        problems += result.problems
        unmanaged += result.unmanaged
    if cache is not None:
        st = cache.stats
        log.info("discover: %d file(s): %d known unchanged, %d read again (same bytes), %d screened anew, %d parsed",
                 scanned, st.reused, st.reread, st.evaluated, st.parsed,
                 extra={"fields": {"event": "discover-cache", "files": scanned, "reused": st.reused, "reread": st.reread,
                                   "evaluated": st.evaluated, "parsed": st.parsed}})
    # HelmRelease charts: their HelmRepository may be anywhere in the checkout, not only under `paths`
    all_files = (lambda: files) if not paths else (lambda: tuple(walk(root, (), exclude)))
    occurrences, unresolved = charts.resolve_sources(root, occurrences, all_files)
    if on_image is not None:
        announce(occurrences)  # charts named by their HelmRepository
    return Discovery(tuple(occurrences), tuple(problems + unresolved), scanned, parsed, tuple(unmanaged))


def _scan_file_as(settings: tuple, rel: str, data: bytes) -> FileFound:
    return scan_file(rel, data, *settings)


def scan_settings(policies: Mapping[str, ConfiguredPolicy], parse_all: bool, everything: bool, rules: Sequence[ConfiguredRule],
                  tools: frozenset[str]) -> tuple:
    """Everything besides a file's path and bytes that discover's conclusions about it depend on,
    as a value whose repr is stable across processes (the on-disk cache's scope: no sets)."""
    return (parse_all, tuple((name, repr(p)) for name, p in sorted(policies.items())),
            everything, tuple((repr(r), r.line) for r in rules), tuple(sorted(tools)))


def _screen(
    policies: Mapping[str, ConfiguredPolicy], parse_all: bool, everything: bool, tools: frozenset[str],
    updaters: tuple[object, ...], rel: str, data: bytes,
) -> FileResult:
    """The text screen: does this file need parsing at all (parsed later, and only if a targeted
    scan's screen lets it through as well)."""
    if (
        parse_all
        or worth_parsing(rel, data, bool(policies))
        or (everything and mentions_references(rel, data))
        or any(compat.TOKENS[t] in data for t in tools)
        or (updaters and b"argoproj.io" in data)
    ):
        return FileResult(worth=True, data=data)
    return FileResult(worth=False)


def _mention_tokens(images: Collection[str], policies: Mapping[str, ConfiguredPolicy]) -> tuple[bytes, ...]:
    """Bytes one of which any file referring to `images` contains: each repository's last path
    component (in every spelling of a reference, split field or kustomize entry), the names of
    config policies for those images (a named marker may sit on a lone tag field), and Flux
    `$imagepolicy` markers (kept, conservatively)."""
    wanted = set(images)
    tokens = {name.rsplit("/", 1)[-1].encode() for name in wanted} | {b"$imagepolicy"}
    for key, named in policies.items():
        try:
            if policy_image(key, named) in wanted:
                tokens.add(key.encode())
        except ReferenceError_:
            tokens.add(key.encode())
    return tuple(sorted(tokens))


@dataclass
class FileFound(Found):
    """One file's findings once rules have been applied: `unmanaged` references included."""

    unmanaged: list[Occurrence] = field(default_factory=list)


def scan_file(
    rel: str, data: bytes, policies: Mapping[str, ConfiguredPolicy] = {}, rules: Sequence[ConfiguredRule] = (), everything: bool = False,
    tools: frozenset[str] = frozenset(), updaters: tuple[object, ...] = (),
) -> FileFound:
    """Parse one file and run every format on it, then the config rules on what nothing governs."""
    found = FileFound()
    try:
        check_size(len(data))  # before decoding: no second copy of a huge file
    except InputRefused as exc:
        found.problems.append(Problem("yaml", problem_text(exc), Location(rel)))
        return found
    try:
        _, text = decode(data)
    except UnicodeDecodeError as exc:
        found.problems.append(Problem("yaml", f"not UTF-8 text (byte {exc.start})", Location(rel)))
        return found
    try:
        docs = compose(text)
    except InputRefused as exc:
        found.problems.append(Problem("yaml", problem_text(exc), Location(rel, exc.line or 0)))
        return found
    except YAMLError as exc:
        line = error_line(exc)
        if "{{" in text:  # point at the template, not at where the YAML parser gave up
            if "imagebot" not in text and "$imagepolicy" not in text and not any(compat.TOKENS[t].decode() in text for t in tools):
                return found  # a chart's template that asks nothing of imagebot: nothing to report
            first = text.count("\n", 0, text.index("{{")) + 1
            found.problems.append(Problem("template", "skipped: a Helm/Go template ({{ ... }}), not plain YAML", Location(rel, first)))
        else:
            found.problems.append(Problem("yaml", problem_text(exc), Location(rel, line or 0)))
        return found
    pf = ParsedFile(rel, text, docs, policies, compat=tools, argocd_updaters=updaters, everything=everything or bool(rules))
    listed: list[list[Candidate]] = []
    for fmt in FORMATS.values():  # what a marker, an annotation, a config policy or another tool governs
        more = fmt(pf, found.claimed)
        found.occurrences += more.occurrences
        found.problems += more.problems
        found.claimed |= more.claimed
        listed.append(more.candidates)
    # What nothing governs, as Candidates for the rules and the inventory, in format order: one a
    # later format governs is dropped (a container with a keel.sh/policy annotation is the Keel
    # reader's, not an unmanaged workload container), and so is one an earlier format listed.
    taken: set[tuple[int, int]] = set()
    for batch in listed:
        kept = [c for c in batch if not (c.positions & found.claimed or c.positions & taken)]
        found.candidates += kept
        for c in kept:
            taken |= c.positions
    found.unmanaged = rule_set.govern(found, rules)
    return found
