"""The forge interface the reconciler talks to, and the neutral values that cross it.

A forge (GitHub, GitLab, Gitea/Forgejo) is reached through an adapter that satisfies `Forge`.
Every per-forge fact stays in its adapter: how a draft is marked (GitHub's flag, GitLab's
``Draft:`` and Gitea's ``WIP:`` title prefixes), labels as names or ids, reviewers as logins or
user ids, the body-length limit, the user name git sends with the token. The reconciler sees
only `PullRequest` values with the draft prefix already taken off the title.

Every method is one API round trip or a bounded, paginated read; every failure is a
`DeliveryError` saying whether a retry can help (``temporary``). Branches are not part of the
interface: the reconciler pushes and deletes them over git, with a lease on the sha it saw
(``git push --force-with-lease``), which no forge API offers — a branch a human pushed to in
the meantime is never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from imagebot.deadline import Deadline
from imagebot.errors import DeliveryError
from imagebot.redact import redact

PullRequestState = Literal["open", "closed", "merged"]
StatusState = Literal["pending", "success", "failure", "error"]


@dataclass(frozen=True)
class PullRequest:
    """A pull (GitLab: merge) request as the reconciler needs it."""

    number: int  # GitHub/Gitea number, GitLab iid
    url: str  # the web page
    branch: str  # source branch, in this repository (PRs from forks are never listed)
    base: str  # target branch
    title: str  # without the forge's draft prefix
    body: str
    state: PullRequestState
    draft: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()  # user logins requested (or assigned) as reviewers
    team_reviewers: tuple[str, ...] = ()  # team slugs (GitHub, Gitea); empty on GitLab


@dataclass(frozen=True)
class NewPullRequest:
    branch: str
    base: str
    title: str
    body: str
    draft: bool = False


@dataclass(frozen=True)
class CommitStatus:
    """A commit status (GitHub status, GitLab commit status, Gitea status): one `context` per check."""

    sha: str
    context: str
    state: StatusState
    description: str = ""
    target_url: str = ""


class Forge(Protocol):
    """One repository on one forge, as the reconciler uses it."""

    #: "GitHub", "GitLab" or "Gitea" — used in messages.
    name: str
    #: The longest pull-request body the forge accepts, in characters.
    body_limit: int
    #: What a pull request is called there ("pull request" / "merge request") and how it is referenced ("#" / "!").
    noun: str
    sigil: str

    def open_pull_requests(self, prefix: str) -> list[PullRequest]:
        """Open pull requests from this repository's branches starting with `prefix`, oldest first."""
        ...

    def closed_pull_requests(self, branch: str, base: str) -> list[PullRequest]:
        """Closed (unmerged or merged) pull requests from `branch` (a forge may look only at those into `base`)."""
        ...

    def create(self, new: NewPullRequest) -> PullRequest: ...

    def update(self, pr: PullRequest, *, title: str | None = None, body: str | None = None, base: str | None = None) -> PullRequest:
        """Edit the given fields (None: leave it); the draft marking is kept."""
        ...

    def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        """Add labels (created on the forge when missing); existing labels are kept."""
        ...

    def request_reviewers(self, pr: PullRequest, users: Sequence[str], teams: Sequence[str]) -> None:
        """Add reviewers; those already requested are kept."""
        ...

    def comments(self, pr: PullRequest) -> list[str]:
        """The bodies of the pull request's comments (bounded: the first pages)."""
        ...

    def comment(self, pr: PullRequest, body: str) -> None: ...

    def close(self, pr: PullRequest) -> None: ...

    def set_status(self, status: CommitStatus) -> None: ...

    def statuses(self, sha: str) -> list[CommitStatus]:
        """The statuses of a commit, newest first (one per context and update)."""
        ...


#: The longest pull-request body each forge takes, in characters: GitHub's documented 65,536;
#: GitLab's description limit (1 MiB of characters); Gitea/Forgejo document none (LONGTEXT), so
#: imagebot keeps GitHub's, which is also as much as a reviewer reads.
BODY_LIMITS = {"github": 65_536, "gitlab": 1_048_576, "gitea": 65_536}

#: Pages a paginated read follows at most (100 items a page): a bound, not a normal limit.
MAX_PAGES = 20


def http_error(forge: str, action: str, status: int | None, detail: str) -> DeliveryError:
    """A DeliveryError for a failed API call: temporary for 5xx, 429 and network trouble (status None)."""
    temporary = status is None or status >= 500 or status == 429
    text = detail if status is None else f"{status} {detail}".rstrip()
    if status == 401:
        text += " (the token was rejected: check delivery.pull_request.token_env / token_file)"
    return DeliveryError(f"{forge}: {action} failed: {redact(text)}", temporary=temporary)


def strip_draft(title: str, prefixes: Sequence[str]) -> tuple[str, bool]:
    """('Draft: Update x', ['Draft:']) -> ('Update x', True): a title without the forge's draft marking."""
    for prefix in prefixes:
        if title[: len(prefix)].lower() == prefix.lower():
            return title[len(prefix) :].lstrip(), True
    return title, False


class Deadlined:
    """A Forge whose calls do not start past the cycle's deadline (or after shutdown): the cycle is
    abandoned between calls, never in the middle of one; each call's own timeout bounds the rest."""

    def __init__(self, forge: Forge, deadline: Deadline):
        self._forge = forge
        self._deadline = deadline

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._forge, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self._deadline.check(f"calling {self._forge.name} ({name})")
            return value(*args, **kwargs)

        return call
