"""Policy decisions kept on disk: the same policy, current tag and tag list give the same decision,
so a second `plan` (or a CI `run --once` with its cache kept) does not decide again what it
decided last time.

`Policy.choose(tags, current)` is a pure function of the compiled policy (its meaning: the
policy string and the options that shape it), the current tag, the tag list in registry order
- and imagebot's own code. The key is the image, the SHA-256 of its tag list, the policy's
meaning and the current tag; the code is the file's fingerprint. What is kept is what the
resolve stage reads of a decision: the chosen tag, the reason, whether it is held, and the best
candidates (as many as its fallbacks can look at). A decision whose inputs include anything else
- a clock (`min-age`), build times (`newest-build`) - is never kept.

Never trusted blindly: a file of another tool, format or code, or that does not parse, is
ignored (and replaced at the end of the run); an entry is used only when its chosen tag and
candidates are tags of the very list it was keyed by (or the current tag), anything else is
decided again. Only the entries this run used are written back (atomically, and only when they
differ from what was read), one file per clone and lane, so the file stays the size of one plan
and lanes sharing a cache_dir never evict each other.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imagebot.model import PolicySpec
from imagebot.policy import Choice
from imagebot.cachefile import code_fingerprint, load_cache_file, store_cache_file

__all__ = ["DecisionMemo", "KEPT_CANDIDATES", "policy_key", "tags_digest"]

TOOL, KIND, FORMAT = "imagebot", "decisions", 1
#: Candidates kept per decision: the resolve stage looks at the chosen tag and at most this many
#: after it (platform and min-age fallbacks); a test holds the fallbacks within it.
KEPT_CANDIDATES = 8


def policy_key(spec: PolicySpec) -> str | None:
    """What a decision of `spec` depends on besides the tags and the current tag, as text; None
    when its decisions must not be kept because they depend on the clock (`min-age`). (A policy
    that reads build times says so itself, `needs_created`: the resolve stage keeps none of its.)"""
    if spec.min_age:
        return None
    return json.dumps([spec.policy, spec.tag_filter, spec.extract, spec.exclude, spec.prerelease, spec.pin_digest],
                      separators=(",", ":"))


def tags_digest(tags: Sequence[str]) -> str:
    """The tag list's identity, order included (registries' order is an input of some policies)."""
    return hashlib.sha256("\n".join(tags).encode()).hexdigest()


class DecisionMemo:
    """Decisions by (image, tag list, policy, current tag), read from and written to `path`."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self._code = code_fingerprint(f"{TOOL}/{KIND}/{FORMAT}")
        self._old: dict[str, Any] = {}
        self._new: dict[str, dict[str, Any]] = {}
        self._loaded = False
        self._changed = False
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, image: str, tags: frozenset[str] | set[str], digest: str, policy: str, current: str | None) -> Choice | None:
        """The decision kept for these inputs, if it fits `tags` (the listing, as a set);
        None: decide (then `put`)."""
        self._load()
        key = _key(policy, current)
        with self._lock:
            kept = self._old.get(image)
            raw = kept["decisions"].get(key) if kept is not None and kept.get("tags") == digest else None
            choice = _choice(raw, tags, current) if raw is not None else None
            if choice is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entry(image, digest)[key] = raw
        return choice

    def put(self, image: str, digest: str, policy: str, current: str | None, choice: Choice) -> None:
        """Keep a decision just made; one a pattern timed out on (`Choice.timed_out`) is not kept:
        the next run may have the time to decide it properly."""
        if choice.timed_out:
            return
        raw = [choice.chosen, choice.reason, list(choice.candidates[:KEPT_CANDIDATES]), choice.held]
        with self._lock:
            self._entry(image, digest)[_key(policy, current)] = raw
            self._changed = True

    def _entry(self, image: str, digest: str) -> dict[str, Any]:
        entry = self._new.get(image)
        if entry is None or entry["tags"] != digest:
            entry = self._new[image] = {"tags": digest, "decisions": {}}
        return entry["decisions"]

    def save(self) -> None:
        """Write the decisions this run used or made (nothing when they are the ones read)."""
        if self.path is None:
            return
        with self._lock:
            if not self._changed and self._same_as_read():
                return
            images = self._new
        store_cache_file(self.path, KIND, FORMAT, self._code, "decision cache", images=images)

    def _same_as_read(self) -> bool:
        if self._new.keys() != self._old.keys():
            return False
        return all(len(e["decisions"]) == len(self._old[i].get("decisions", {})) for i, e in self._new.items())

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            if self.path is None:
                return
            data = load_cache_file(self.path, KIND, FORMAT, self._code, "images", "decision cache")
            if data is None:
                return
            self._old = {image: e for image, e in data["images"].items()
                         if isinstance(e, dict) and isinstance(e.get("decisions"), dict)}


def _key(policy: str, current: str | None) -> str:
    return f"{policy}\0{current if current is not None else ''}\0{int(current is None)}"


def _choice(raw: Any, tags: frozenset[str] | set[str], current: str | None) -> Choice | None:
    """A kept decision as a Choice, if its shape is right and every tag it names is in `tags` (or
    is the current tag); else None (decided again)."""
    if type(raw) is not list or len(raw) != 4:
        return None
    chosen, reason, candidates, held = raw
    if type(reason) is not str or type(held) is not bool or type(candidates) is not list:
        return None
    if chosen is not None and (type(chosen) is not str or (chosen not in tags and chosen != current)):
        return None
    try:  # `tags` holds strings only: a candidate in it is a string (one that cannot be hashed is not in it)
        if not tags.issuperset(candidates):
            return None
    except TypeError:
        return None
    return Choice(chosen, reason, tuple(candidates), (), held)
