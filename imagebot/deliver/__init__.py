"""Delivery: the edited files become a commit on a branch, or pull requests on GitHub, GitLab or Gitea/Forgejo.

    ws = GitWorkspace(cfg, cache_dir)
    root = ws.checkout()                       # the pipeline discovers and applies in `root`
    deliverer = make_deliverer(cfg, ws)
    deliverer.preview(plan, rendered)          # what `run` would do (no writes, no network)
    deliverer.deliver(plan, rendered, rerender, can_write)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from imagebot.config.schema import Config
from imagebot.errors import ConfigError
from imagebot.deliver.commit_mode import CommitDeliverer
from imagebot.deliver.messages import validate_template, validate_title_template
from imagebot.deliver.pr_body import validate_body_template
from imagebot.deliver.preview import DeliveryPreview, PlannedCommit, PlannedPullRequest
from imagebot.deliver.workspace import GitWorkspace
from imagebot.model import Delivery, Plan, Rendered

if TYPE_CHECKING:
    from imagebot.deliver.forge import Forge


class Deliverer(Protocol):
    mode: str

    def preview(
        self, plan: Plan, rendered: Rendered, *, image_labels: Mapping[str, Mapping[str, str]] | None = None
    ) -> DeliveryPreview:
        """Exactly what `deliver` would do: branches, commit messages, PR titles and bodies. No writes, no network."""
        ...

    def deliver(
        self,
        plan: Plan,
        rendered: Rendered,
        rerender: Callable[[Path], Rendered],
        can_write: Callable[[], bool] = lambda: True,
        *,
        image_labels: Mapping[str, Mapping[str, str]] | None = None,
        scope: Collection[str] | None = None,
    ) -> Delivery:
        """Write, commit, push (and open / update / close pull requests). `can_write()` is asked before each write.

        `scope`: the images a targeted cycle looked at (None: a full cycle saw every image). Pull
        requests of images outside the scope are left alone instead of being closed as unneeded.
        """
        ...


def make_deliverer(
    cfg: Config, workspace: GitWorkspace, *, forge_factory: Callable[[], Forge] | None = None
) -> Deliverer:
    """The deliverer for `delivery.mode`; checks the message templates first. `forge_factory`
    replaces the forge `delivery.pull_request.provider` names (tests use an in-memory one)."""
    if cfg.delivery.message_template is not None:
        validate_template(cfg.delivery.message_template)
    if cfg.delivery.sign == "ssh" and not cfg.delivery.signing_key:
        raise ConfigError("delivery.signing_key: SSH signing needs a key (a private key file, or a public key with ssh-agent)")
    if cfg.delivery.mode == "pull-request":
        from imagebot.deliver.pull_requests import PullRequestDeliverer

        pr = cfg.delivery.pull_request
        if pr.provider == "gitlab" and pr.team_reviewers:
            raise ConfigError("delivery.pull_request.team_reviewers: GitLab has no team reviewers; list users in reviewers")
        if pr.title_template is not None:
            validate_title_template(pr.title_template)
        if pr.body_template is not None:
            validate_body_template(pr.body_template)
        return PullRequestDeliverer(cfg, workspace, forge_factory=forge_factory)
    return CommitDeliverer(cfg, workspace)


__all__ = [
    "Deliverer",
    "DeliveryPreview",
    "GitWorkspace",
    "PlannedCommit",
    "PlannedPullRequest",
    "make_deliverer",
]
