"""The bot's cached clone of the manifest repository, and the git commands run in it.

One clone per repository URL under ``<cache_dir>/git/``. Each cycle it is fetched (shallow:
only branch tips are needed, since the bot always builds on the current remote head) and
hard-reset to the remote, so nothing a previous, perhaps crashed, cycle left behind survives.
Every git command gets the credentials through its environment (see `credentials`), never
through `.git/config` or its command line.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import GitCommandError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from imagebot.config.schema import Config
from imagebot.deliver.credentials import git_credentials
from imagebot.errors import DeliveryError
from imagebot.redact import redact

log = logging.getLogger(__name__)

_TEMPORARY_GIT_ERRORS = re.compile(
    r"Could not resolve host|Connection refused|Connection reset|timed out|Operation timed out|"
    r"returned error: (?:5\d\d|429)|early EOF|unexpected disconnect|Empty reply|Failed to connect|"
    r"could not read from remote repository\.\s*$|cannot lock ref|unable to update local ref",
    re.IGNORECASE,
)
_AUTH_FAILED = re.compile(
    r"could not read (?:Username|Password)|Authentication failed|returned error: 40[13]|Permission denied \(publickey|"
    r"Host key verification failed",
    re.IGNORECASE,
)
_BROKEN_CLONE = re.compile(
    r"not a git repository|bad object|corrupt|unable to read|index file|loose object|bad HEAD|"
    r"invalid (?:gitfile|HEAD)|did not send all necessary objects|unknown revision|bad revision",
    re.IGNORECASE,
)


#: The clone is a cache, hard-reset every cycle; what must survive a crash is the commit on the
#: remote. So git does not fsync each object it writes here (a commit of 10 files writes ~30
#: objects: 20-60 ms of fsync on a busy disk, on the webhook path). A clone damaged by a crash
#: is detected and cloned again (`checkout`).
_SCRATCH_CONFIG = (("core.fsync", "none"),)

#: Network trouble talking to the remote (DNS, refused connection, 5xx) is retried a few times
#: within the cycle before it is reported as a temporary error.
network_retry = retry(
    retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.temporary),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.5, max=4),
    reraise=True,
)


@dataclass(frozen=True)
class PushResult:
    """How one push ended: `ok`, or rejected because the remote branch moved (`summary` says how)."""

    ok: bool
    summary: str = ""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")


class GitWorkspace:
    """A cached clone of `repository.url`; `checkout()` makes it match the remote."""

    def __init__(self, cfg: Config, cache_dir: Path):
        self.cfg = cfg
        self.url, self.credentials = git_credentials(cfg)
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        self.root = Path(cache_dir) / "git" / f"{_slug(self.url)[-48:]}-{digest}"
        #: Remote branch name -> tip sha, as of the last `checkout()` / `refresh()`.
        self.remote_heads: dict[str, str] = {}
        #: The remote branch the work tree was last reset to.
        self.branch = ""

    # --- running git ---------------------------------------------------------------------
    def _env(self, config: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
        entries = [*_SCRATCH_CONFIG, *self.credentials.config_entries(), *config]
        env = {**self.credentials.env(), "GIT_CONFIG_COUNT": str(len(entries))}
        for i, (key, value) in enumerate(entries):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        return env

    def run(self, *args: str, config: tuple[tuple[str, str], ...] = (), env: dict[str, str] | None = None) -> str:
        """Run `git args...` in the work tree; a failure becomes a DeliveryError (temporary when a retry may help)."""
        full_env = {**self._env(config), **(env or {})}
        try:
            return git.Git(self.root).execute(["git", *args], env=full_env)
        except GitCommandError as e:
            raise self._error(args, e) from None

    def _error(self, args: tuple[str, ...] | list[str], e: GitCommandError) -> DeliveryError:
        stderr = redact(str(e.stderr or "").strip().replace("\n", " "))
        temporary = bool(_TEMPORARY_GIT_ERRORS.search(stderr))
        hint = ""
        if _AUTH_FAILED.search(stderr):
            hint = " (the remote refused the credentials: check delivery.git token_env / token_file / ssh_key_file)"
        return DeliveryError(f"git {args[0]} ({redact(self.url)}) failed: {stderr or e.status}{hint}", temporary=temporary)

    # --- syncing with the remote ---------------------------------------------------------
    def checkout(self) -> Path:
        """Clone or fetch, then hard-reset the work tree onto the branch the bot builds on.

        commit mode: the delivery branch when it exists on the remote, else `repository.branch`;
        pull-request mode: `repository.branch`. Returns the work tree root.
        """
        try:
            self._sync()
        except DeliveryError as e:
            if e.temporary or not _BROKEN_CLONE.search(str(e)):
                raise
            # The cache is damaged (disk full, killed mid-write): it is only a cache, start afresh.
            log.warning("the cached clone in %s is damaged (%s); cloning again", self.root, e)
            shutil.rmtree(self.root)
            self._sync()
        return self.root

    def _sync(self) -> None:
        self._ensure_clone()
        self.refresh()
        base = self.cfg.repository.branch
        if base not in self.remote_heads:
            raise DeliveryError(f"branch {base!r} does not exist in {redact(self.url)} (repository.branch)")
        target = base
        if self.cfg.delivery.mode == "commit" and self.cfg.delivery_branch in self.remote_heads:
            target = self.cfg.delivery_branch
        self.reset_to(target)

    def _ensure_clone(self) -> None:
        if not (self.root / ".git").is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            self.run("init", "-q")
            self.run("remote", "add", "origin", self.url)
        elif self.run("remote", "get-url", "origin") != self.url:  # also proves the clone readable
            self.run("remote", "set-url", "origin", self.url)

    def refresh(self) -> None:
        """List the remote's branches and fetch the tips the bot works with (shallow)."""
        self.remote_heads = self.ls_remote()
        wanted = {self.cfg.repository.branch}
        if self.cfg.delivery.mode == "commit":
            wanted.add(self.cfg.delivery_branch)
        refspecs = [f"+refs/heads/{b}:refs/remotes/origin/{b}" for b in sorted(wanted) if b in self.remote_heads]
        covered = {b: self.remote_heads[b] for b in wanted if b in self.remote_heads}
        prefix: str | None = None
        if self.cfg.delivery.mode == "pull-request":
            prefix = self.cfg.delivery.pull_request.branch_prefix
            refspecs.append(f"+refs/heads/{prefix}*:refs/remotes/origin/{prefix}*")
            covered |= {b: sha for b, sha in self.remote_heads.items() if b.startswith(prefix)}
        if self._up_to_date(covered, prefix):
            return  # the fetch would neither add, move nor prune a ref (a warm agent's usual case)
        self._fetch(refspecs)

    def _up_to_date(self, covered: dict[str, str], prefix: str | None) -> bool:
        """The local remote-tracking refs already equal what the remote has for `covered`
        (and, under `prefix`, hold nothing the remote no longer has). One local git process
        instead of a round trip to the remote."""
        if not covered or not (self.root / ".git").is_dir():
            return False
        # "refs/remotes/origin/" (no "*"): for-each-ref's "*" stops at a slash, so
        # "imagebot/app" would not be listed by ".../origin/*".
        out = self.run("for-each-ref", "--format=%(refname)%09%(objectname)", "refs/remotes/origin/")
        local = {ref[len("refs/remotes/origin/") :]: sha for ref, _, sha in (line.partition("\t") for line in out.splitlines())}
        if prefix is not None and any(b.startswith(prefix) and b not in covered for b in local):
            return False  # a branch to prune
        return all(local.get(b) == sha for b, sha in covered.items())

    @network_retry
    def _fetch(self, refspecs: list[str]) -> None:
        self.run("fetch", "-q", "--prune", "--no-tags", "--depth=1", "origin", *refspecs)

    @network_retry
    def ls_remote(self) -> dict[str, str]:
        heads: dict[str, str] = {}
        for line in self.run("ls-remote", "--heads", "origin").splitlines():
            sha, _, ref = line.partition("\t")
            if ref.startswith("refs/heads/"):
                heads[ref[len("refs/heads/") :]] = sha
        return heads

    def reset_to(self, branch: str) -> None:
        """Make the work tree exactly the fetched tip of remote `branch` (nothing local survives)."""
        self.run("checkout", "-q", "-f", "-B", branch, f"refs/remotes/origin/{branch}")
        self.run("clean", "-q", "-ffdx")
        self.branch = branch

    def start_from(self, sha: str, local_branch: str) -> None:
        """Reset the work tree to commit `sha` on a local branch (pull-request mode's per-group branches)."""
        self.run("checkout", "-q", "-f", "-B", local_branch, sha)
        self.run("clean", "-q", "-ffdx")

    # --- reading -------------------------------------------------------------------------
    def head(self) -> str:
        return self.run("rev-parse", "HEAD")

    def modified_between(self, old: str, new: str) -> frozenset[str] | None:
        """The paths whose bytes differ between commits `old` and `new`, when that is all that
        differs (no path added, removed, renamed or changed in kind); else None, as when `old`
        is not in this clone. A scan at `new` after one at `old` looks only at these again."""
        try:
            out = self.run("diff", "--name-status", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", old, new)
        except DeliveryError:
            return None
        fields = out.split("\0")
        if fields and fields[-1] == "":
            fields.pop()
        if len(fields) % 2 or any(status != "M" for status in fields[::2]):
            return None
        return frozenset(fields[1::2])

    def known_heads(self) -> dict[str, str]:
        """The remote's branches as of the last fetch, read locally (no network): for previews."""
        if self.remote_heads or not (self.root / ".git").is_dir():
            return self.remote_heads
        return self.remote_branches("")

    def remote_sha(self, branch: str) -> str | None:
        try:
            return self.run("rev-parse", "--verify", "-q", f"refs/remotes/origin/{branch}^{{commit}}")
        except DeliveryError:
            return None

    def remote_branches(self, prefix: str) -> dict[str, str]:
        """Fetched remote branches under `prefix` -> tip sha."""
        # Listed whole and filtered here: in for-each-ref patterns `*` stops at a slash, and
        # branch names (imagebot/apps/web.yaml) have slashes.
        out = self.run("for-each-ref", "--format=%(refname)%09%(objectname)", "refs/remotes/origin/")
        result = {}
        for line in out.splitlines():
            ref, _, sha = line.partition("\t")
            name = ref[len("refs/remotes/origin/") :]
            if name.startswith(prefix) and name != "HEAD":
                result[name] = sha
        return result

    def author_email(self, rev: str) -> str:
        return self.run("log", "-1", "--format=%ae", rev)

    def file_at(self, rev: str, path: str) -> bytes | None:
        """The bytes of `path` at `rev`, or None when it does not exist there."""
        try:
            out = git.Git(self.root).execute(
                ["git", "cat-file", "blob", f"{rev}:{path}"], env=self._env(), strip_newline_in_stdout=False, stdout_as_string=False
            )
        except GitCommandError:
            return None
        return bytes(out)

    # --- writing -------------------------------------------------------------------------
    def commit(self, paths: list[str], message: str) -> str | None:
        """Commit `paths` as the bot (signed when configured). None when nothing changed."""
        # Paths and message go through files, not argv: a cycle of thousands of changes would
        # exceed the kernel's limit for one argument (E2BIG).
        if not paths:
            return None
        d = self.cfg.delivery
        ident = {
            "GIT_AUTHOR_NAME": d.author.name,
            "GIT_AUTHOR_EMAIL": d.author.email,
            "GIT_COMMITTER_NAME": d.author.name,
            "GIT_COMMITTER_EMAIL": d.author.email,
        }
        signing: tuple[tuple[str, str], ...] = (("commit.gpgsign", "false"),)
        if d.sign != "none":
            signing = (("commit.gpgsign", "true"), ("gpg.format", "ssh" if d.sign == "ssh" else "openpgp"))
            if d.signing_key:
                signing += (("user.signingkey", d.signing_key),)
        scratch = self.root / ".git" / "imagebot"
        scratch.mkdir(exist_ok=True)
        (scratch / "message").write_text(message, encoding="utf-8")
        (scratch / "paths").write_bytes(b"\0".join(p.encode() for p in paths))
        try:
            self.run("commit", "-q", "--no-verify", "-F", str(scratch / "message"),
                     f"--pathspec-from-file={scratch / 'paths'}", "--pathspec-file-nul", config=signing, env=ident)
        except DeliveryError:
            # The paths normally differ from HEAD (deliver wrote them); if none does, git refuses
            # to make an empty commit: that is "nothing changed", not a failure.
            if not self.run("status", "--porcelain", "-z", "--untracked-files=no", "--", *paths):
                return None
            raise
        return self.head()

    @network_retry
    def push(self, branch: str, *, lease: str | None = None, delete: bool = False) -> PushResult:
        """Push HEAD to remote `branch` (or delete it).

        Without `lease` the push must fast-forward (a branch the bot does not own is never
        forced). With `lease` (the sha the bot last saw there, or "" for "must not exist") the
        branch is overwritten only if it is still at that sha: the bot's own PR branches.
        The outcome is read from ``git push --porcelain``: one status line per ref.
        """
        args = ["push", "--porcelain"]
        if lease is not None:
            args.append(f"--force-with-lease=refs/heads/{branch}:{lease}")
        args += ["origin", f":refs/heads/{branch}" if delete else f"HEAD:refs/heads/{branch}"]
        status, out, err = git.Git(self.root).execute(
            ["git", *args], env=self._env(), with_extended_output=True, with_exceptions=False
        )
        # "<flag>\t<from>:<to>\t<summary>": "!" is a refused or failed ref, anything else landed.
        refs = [line.split("\t") for line in str(out).splitlines() if line.count("\t") == 2]
        refused = [summary for flag, _, summary in refs if flag == "!"]
        if not refused:
            if status != 0 or not refs:
                raise self._error(("push",), GitCommandError(["git", "push"], status, err or "reported nothing", out))
            return PushResult(ok=True)
        summary = redact(refused[0].strip())
        if "hook declined" in summary or "protected branch" in summary:
            raise DeliveryError(f"the remote refused the push to {branch!r}: {summary}")
        if summary.startswith(("[rejected]", "[remote rejected]")):
            log.info("push to %s rejected: %s", branch, summary)
            return PushResult(ok=False, summary=summary)
        raise DeliveryError(f"git push to {branch!r} failed: {summary}", temporary=True)

    def delete_branch(self, branch: str, expected_sha: str) -> PushResult:
        """Delete remote `branch` only if it is still at `expected_sha`."""
        return self.push(branch, lease=expected_sha, delete=True)

