"""The frozen values passed between pipeline stages.

config -> discover -> resolve -> plan -> apply -> deliver -> report

Each stage takes the previous stage's values and returns its own; none of them is mutated.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from enum import StrEnum

from imagebot.errors import EXIT_OK, EXIT_PARTIAL


class FieldKind(StrEnum):
    """What the edited YAML scalar holds."""

    IMAGE = "image"  # a full reference: name[:tag][@digest]
    NAME = "name"  # the repository alone (Helm `image.repository`, kustomize `newName`)
    TAG = "tag"  # the tag alone (Helm `image.tag`, kustomize `newTag`)
    DIGEST = "digest"  # the digest alone (`sha256:...`)


@dataclass(frozen=True, order=True)
class Location:
    """A place in the repository: repo-relative POSIX path, 1-based line and column."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"


def _location_key(loc: Location) -> tuple[str, int, int]:
    return (loc.file, loc.line, loc.column)


#: `policy: ignore` in a config rule: the references it matches stay unmanaged (later rules are not tried).
IGNORE = "ignore"


@dataclass(frozen=True)
class PolicySpec:
    """An update policy as declared (annotation, marker, config), before compilation.

    `policy` is the policy string, e.g. ``semver:^1.4``, ``minor``, ``digest``,
    ``alphabetical:desc``. The options follow the annotations ``imagebot.io/<option>``.
    """

    policy: str
    tag_filter: str | None = None
    extract: str | None = None
    exclude: str | None = None
    prerelease: bool = False
    pin_digest: bool = False
    #: Where it was declared, for error messages: "apps/web.yaml:7 annotation imagebot.io/policy".
    source: str = ""
    #: What kind of declaration it is: "annotation", "marker", "policy" (a config policy named by
    #: a marker or matching a kustomization entry), "rule" (a config rule); "" when unknown.
    #: Not part of the policy's meaning: specs that differ only in it are equal.
    origin: str = field(default="", compare=False)
    #: A tag whose image was built (config `created`) less than this long ago is not yet a candidate
    #: (a duration: 1h, 3d); None: no minimum. Annotation / marker option / policy / rule `min-age`.
    min_age: str | None = None


@dataclass(frozen=True)
class Problem:
    """Something a stage could not do. It never stops the other workloads."""

    kind: str  # "yaml", "policy", "annotation", "marker", "registry", "edit", "delivery", ...
    message: str
    location: Location | None = None
    subject: str = ""  # the workload / container / image concerned
    temporary: bool = False  # whether a later cycle may succeed without a human

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        who = f"{self.subject}: " if self.subject else ""
        return f"{where}{who}{self.message}"


@dataclass(frozen=True)
class Occurrence:
    """One image reference found in the repository (discover's output).

    `location` points at the first character of the scalar's *value* token (for a quoted
    scalar: the opening quote). `value` is the scalar as YAML loads it. `image` is the
    normalised repository to look up ("docker.io/library/nginx"); `tag` and `digest` are the
    current ones (for split fields: gathered from the sibling fields of the same `group`).
    """

    location: Location
    document: int  # 0-based index of the YAML document in the file
    field: FieldKind
    value: str
    image: str
    tag: str | None
    digest: str | None
    policy: PolicySpec
    subject: str  # "Deployment/web container app", "values.yaml image (policy app)"
    #: How an image reference is written (imagebot.discover.kinds): "container" (a workload's),
    #: "image" (a full reference elsewhere), "image-map" (Helm values split fields), "kustomize"
    #: (an images entry); "" when not said. Config rules match on it (with `kind` for charts).
    form: str = ""
    #: The workload holding a container reference ("Deployment/web"), its namespace as written in
    #: the document, and the container's name; "" elsewhere. Config rules match on them.
    workload: str = ""
    namespace: str = ""
    container: str = ""
    group: str = ""  # split fields of one image share a group key; "" for a full reference
    #: A dotted path of the scalar within its document, e.g. "spec.template.spec.containers[0].image".
    path: str = ""
    #: What the reference names: "image"; "chart" (a Helm chart version: Flux OCIRepository /
    #: HelmRelease / HelmChart, Argo CD Application; `image` is the OCI repository or, for an HTTP
    #: Helm repository, "https://repo/chart"); "artifact" (another OCI artifact, e.g. Flux manifests).
    kind: str = "image"


#: The kinds of reference discover finds, as `Occurrence.kind` and config rules' `match.kind`:
#: a workload's container image; a full reference in any other field (custom resources, Helm
#: values, CI files); a Helm values image map (repository + tag, name + tag, with registry and
#: digest); a kustomization `images:` entry; a Helm chart version (Flux OCIRepository, HelmRelease
#: chart.spec.version, Argo CD Application targetRevision); another OCI artifact (Flux manifests).
REFERENCE_KINDS = ("container", "image", "image-map", "kustomize", "chart", "artifact")

#: The policy of a reference found but governed by nothing (no annotation, marker or rule): it is
#: listed by `imagebot inventory` and never changed.
UNMANAGED = PolicySpec(policy="", source="unmanaged", origin="")


@dataclass(frozen=True)
class Discovery:
    occurrences: tuple[Occurrence, ...]
    problems: tuple[Problem, ...] = ()
    files_scanned: int = 0
    files_parsed: int = 0
    #: References found that no annotation, marker or config rule governs (policy UNMANAGED), one
    #: per reference; only filled when discover looks for every reference (config rules, inventory).
    unmanaged: tuple[Occurrence, ...] = ()


@dataclass(frozen=True)
class Target:
    """The tag (and optionally digest) an image should move to."""

    tag: str
    digest: str | None = None


@dataclass(frozen=True)
class Resolution:
    """resolve's output for one occurrence: a target, or a skip reason."""

    occurrence: Occurrence
    target: Target | None
    reason: str  # why this target / why skipped
    problem: Problem | None = None  # set when skipped because something failed
    #: Age in seconds of the tag list used, when it came from the on-disk cache (registry down).
    stale_age: float | None = None


@dataclass(frozen=True)
class Change:
    """One scalar to rewrite: `old` -> `new` at `occurrence.location` (plan's output)."""

    occurrence: Occurrence
    old: str
    new: str
    old_ref: str  # the whole image reference before, for messages: "ghcr.io/org/app:1.0.0"
    new_ref: str  # ... and after
    reason: str

    @property
    def file(self) -> str:
        return self.occurrence.location.file


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    skipped: tuple[Resolution, ...] = ()
    unchanged: tuple[Resolution, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def id(self) -> str:
        """A stable id: the hash of the changes (file, line, column, old, new), order-free."""
        h = hashlib.sha256()
        # Location's order as a plain tuple (file, line, column): dataclass comparisons cost 10x more.
        for c in sorted(self.changes, key=lambda c: (*_location_key(c.occurrence.location), c.old, c.new)):
            h.update(f"{c.occurrence.location}\0{c.old}\0{c.new}\n".encode())
        return h.hexdigest()[:12]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(sorted({c.file for c in self.changes}))


@dataclass(frozen=True)
class FileEdit:
    """apply's output for one file: its bytes before and after."""

    path: str  # repo-relative POSIX path
    before: bytes
    after: bytes
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """A change apply would not make, with the reason (file untouched)."""

    change: Change
    reason: str


@dataclass(frozen=True)
class Rendered:
    edits: tuple[FileEdit, ...]
    refused: tuple[Refusal, ...] = ()


class PullRequestAction(StrEnum):
    """What a delivery did to one pull request this cycle."""

    OPENED = "opened"  # created this cycle
    UPDATED = "updated"  # new commit on its branch, or its title / body / base edited
    UNCHANGED = "unchanged"  # already as wanted: nothing written
    CLOSED = "closed"  # no longer needed (or a duplicate)


@dataclass(frozen=True)
class PullRequestOutcome:
    """One pull request the delivery reconciled, and what it did to it."""

    url: str
    branch: str
    action: PullRequestAction
    #: The changes the pull request proposes (empty for a closed one).
    changes: tuple[Change, ...] = ()
    #: The commit pushed to its branch this cycle; "" when the branch already held these edits.
    commit: str = ""
    number: int = 0  # the forge's number for it (#42, !42)
    files: tuple[str, ...] = ()  # the files its branch edits

    @property
    def written(self) -> bool:
        return self.action is not PullRequestAction.UNCHANGED


@dataclass(frozen=True)
class Landed:
    """One change that this cycle's delivery wrote to Git: a pushed commit on `branch`."""

    change: Change
    branch: str
    commit: str
    pull_request: str = ""  # the pull request proposing it (pull-request mode)


@dataclass(frozen=True)
class Delivery:
    """deliver's output: what landed where. The one truth the summary, `--json`, metrics, Events,
    logs and /status read: a change counts as updated only when it is in `landed`."""

    mode: str  # "commit" | "pull-request" | "none"
    branch: str = ""
    commit: str = ""  # sha of the new commit, "" when nothing was committed
    pull_requests: tuple[str, ...] = ()  # URLs of PRs opened, updated or left unchanged (derived from `outcomes` when given)
    closed_pull_requests: tuple[str, ...] = ()  # ... and closed (derived likewise)
    pushed: bool = False
    attempts: int = 0
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    #: Changes written to Git by this delivery (pushed), each with its branch and commit.
    landed: tuple[Landed, ...] = ()
    #: Every pull request reconciled, with its action (pull-request mode).
    outcomes: tuple[PullRequestOutcome, ...] = ()
    #: Changes the edit was refused for (apply, or again after the branch moved): never landed.
    refused: tuple[Refusal, ...] = ()

    def __post_init__(self) -> None:
        if self.outcomes and not (self.pull_requests or self.closed_pull_requests):
            live = tuple(o.url for o in self.outcomes if o.action is not PullRequestAction.CLOSED)
            closed = tuple(o.url for o in self.outcomes if o.action is PullRequestAction.CLOSED)
            object.__setattr__(self, "pull_requests", live)
            object.__setattr__(self, "closed_pull_requests", closed)

    @property
    def branches(self) -> tuple[str, ...]:
        """Every branch the delivery wrote to or reconciled, in order, once each."""
        names = [o.branch for o in self.outcomes] or [b.strip() for b in self.branch.split(",")]
        return tuple(dict.fromkeys(b for b in names if b))


@dataclass(frozen=True)
class CycleResult:
    """Everything one cycle did, for reports, metrics, Events and the exit code."""

    discovery: Discovery
    resolutions: tuple[Resolution, ...]
    plan: Plan
    rendered: Rendered
    delivery: Delivery | None  # None for a dry run (`imagebot plan`)
    problems: tuple[Problem, ...]  # every problem of every stage, in stage order
    started: float  # time.time() at start
    duration: float  # seconds
    dry_run: bool = False
    #: When not None, the cycle was targeted at these images only (webhook-triggered).
    images: frozenset[str] | None = None
    #: registry requests made during the cycle, by "registry kind status" (from the client's stats).
    registry_requests: tuple[tuple[str, int], ...] = ()
    #: The lane (repository) the cycle ran for: metrics, Events and /status carry it ("" : the only one).
    lane: str = ""
    #: When a held promotion's gate opens by itself (a soak ends, a window opens; Unix seconds): the agent wakes then.
    wake_at: float | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.problems else EXIT_OK


def utc_iso(t: float) -> str:
    """A time.time() value as reports, status and notifications write it: '2026-11-29T13:27:00Z'."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
