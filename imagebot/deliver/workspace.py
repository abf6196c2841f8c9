"""The bot's cached clone of the manifest repository, and the git commands run in it.

One clone per repository URL under ``<cache_dir>/git/``. Each cycle it is fetched (shallow:
only branch tips are needed, since the bot always builds on the current remote head) and
hard-reset to the remote, so nothing a previous, perhaps crashed, cycle left behind survives
(the reset and the clean are skipped when ``git status`` shows nothing to undo; see `reset_to`).
Every git command gets the credentials through its environment (see `credentials`), never
through `.git/config` or its command line.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from imagebot.config.schema import Config, parse_duration
from imagebot.deadline import NO_DEADLINE, Deadline
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

#: The clone is a cache, hard-reset every cycle; what must survive a crash is the commit on the
#: remote. So git does not fsync each object it writes here (a commit of 10 files writes ~30
#: objects: 20-60 ms of fsync on a busy disk, on the webhook path). A clone damaged by a crash
#: is detected and cloned again (`checkout`).
_SCRATCH_CONFIG = (("core.fsync", "none"),)

#: Every git command runs with these: paths are never pathspec magic (a file named ``:/z.yaml``
#: or ``:(exclude)x.yaml`` is that file), git never prompts, messages are in English (parsed).
_GIT_ENV = {"GIT_LITERAL_PATHSPECS": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C"}

#: The clones this process holds (path -> the open lock file): held until the process ends.
_HELD: dict[str, int] = {}
_HELD_LOCK = threading.Lock()

#: How often a running git command is checked for its deadline and for shutdown.
_POLL = 0.1

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
        #: The current cycle's deadline (the pipeline sets it): no git command starts past it, and
        #: a running one is killed at it (or at `command_timeout`, whichever comes first).
        self.deadline: Deadline = NO_DEADLINE
        self.command_timeout = parse_duration(cfg.delivery.git_timeout)
        self._lock_fd: int | None = None
        #: The clone was just initialised in an empty directory: its first checkout leaves nothing
        #: untracked to clean and it has no remote-tracking refs to compare.
        self._fresh = False
        #: What `refresh()` found without fetching (branch -> sha of its remote-tracking ref), for
        #: the `reset_to()` right after it; any git command run since makes it unknown.
        self._tracking: dict[str, str] = {}
        #: HEAD's sha when the last git command run proved it (`head()` then runs none).
        self._head: str | None = None

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
        status, out, err = self._exec(list(args), {**self._env(config), **(env or {})})
        if status != 0:
            raise self._error(args, status, err)
        text = out.decode("utf-8", "replace")
        return text[:-1] if text.endswith("\n") else text

    def _exec(self, args: list[str], env: dict[str, str]) -> tuple[int, bytes, str]:
        """(exit status, stdout, stderr) of `git args` in the work tree, within the deadline.

        git runs in its own process group: at the deadline, at `command_timeout` or at shutdown
        the whole group (git and the helpers, hooks and ssh it started) is killed, so a silent
        remote or a sleeping hook cannot hold the cycle.
        """
        what = f"git {args[0]}"
        self.deadline.check(f"running {what}")
        self._tracking, self._head = {}, None  # a git command may move a ref or HEAD
        limit = self.deadline.cap(self.command_timeout)
        started = time.monotonic()
        proc = subprocess.Popen(
            ["git", *args], cwd=self.root, env={**os.environ, **env, **_GIT_ENV}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=_POLL)
                    break
                except subprocess.TimeoutExpired:
                    if self.deadline.cancelled or time.monotonic() - started >= limit:
                        _kill_group(proc)
                        why = "shutting down" if self.deadline.cancelled else f"did not finish within {limit:.0f}s"
                        e = DeliveryError(f"{what} ({redact(self.url)}) {why}: killed", temporary=True)
                        e.killed = True  # type: ignore[attr-defined]
                        raise e from None
        except BaseException:
            _kill_group(proc)
            raise
        return proc.returncode, out, err.decode("utf-8", "replace")

    def _error(self, args: tuple[str, ...] | list[str], status: int, err: str) -> DeliveryError:
        stderr = redact(str(err or "").strip().replace("\n", " "))
        temporary = bool(_TEMPORARY_GIT_ERRORS.search(stderr))
        hint = ""
        if _AUTH_FAILED.search(stderr):
            hint = " (the remote refused the credentials: check delivery.git token_env / token_file / ssh_key_file)"
        return DeliveryError(f"git {args[0]} ({redact(self.url)}) failed: {stderr or status}{hint}", temporary=temporary)

    # --- syncing with the remote ---------------------------------------------------------
    def checkout(self) -> Path:
        """Clone or fetch, then hard-reset the work tree onto the branch the bot builds on.

        commit mode: the delivery branch when it exists on the remote, else `repository.branch`;
        pull-request mode: `repository.branch`. Returns the work tree root.

        The clone heals itself: lock files a killed git left behind are removed (this process
        holds the clone's own lock, so no git of another imagebot can be using them), and a clone
        that a local git command still fails on is cloned afresh. Only trouble with the remote
        (network, credentials, a missing branch) is reported, as it may heal by itself.
        """
        self._hold_clone()
        self._remove_stale_locks()
        try:
            self._sync()
        except DeliveryError as e:
            if getattr(e, "remote", False) or getattr(e, "killed", False) or not (self.root / ".git").exists():
                raise
            # The cache is damaged (disk full, killed mid-write): it is only a cache, start afresh.
            log.warning("the cached clone in %s is damaged (%s); cloning again", self.root, e)
            shutil.rmtree(self.root)
            self._sync()
        return self.root

    def _hold_clone(self) -> None:
        """Hold an exclusive lock on this clone for the life of the process (its git work runs one
        step at a time): two imagebot processes never run git in one clone together. The kernel
        drops the lock when the process dies, however it dies."""
        if self._lock_fd is not None:
            return
        key = str(self.root)
        with _HELD_LOCK:
            if key in _HELD:  # another GitWorkspace of this process holds it already
                self._lock_fd = _HELD[key]
                return
            self.root.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(str(self.root.parent / (self.root.name + ".lock")), os.O_RDWR | os.O_CREAT, 0o600)
            waited = time.monotonic()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self.deadline.expired() or time.monotonic() - waited > self.command_timeout:
                        os.close(fd)
                        raise DeliveryError(f"another imagebot process is using the clone in {self.root}; "
                                            f"a later run may succeed", temporary=True) from None
                    time.sleep(_POLL)
            _HELD[key] = self._lock_fd = fd

    def _remove_stale_locks(self) -> None:
        """Remove the ``*.lock`` files a git command killed mid-way left in .git (index.lock,
        HEAD.lock, config.lock, refs/heads/x.lock, ...): with the clone held and no git of ours
        running, nothing owns them, and git would refuse every later command."""
        dot_git = self.root / ".git"
        if not dot_git.is_dir():
            return
        for folder, dirs, files in os.walk(dot_git):
            if folder == str(dot_git):
                dirs[:] = [d for d in dirs if d != "objects"]  # big, and git locks no file there
            for name in files:
                if name.endswith(".lock"):
                    path = Path(folder) / name
                    log.warning("removing %s, left by a git command that did not finish", path)
                    try:
                        path.unlink()
                    except FileNotFoundError:
                        pass

    def _sync(self) -> None:
        self._ensure_clone()
        self.refresh()
        base = self.cfg.repository.branch
        if base not in self.remote_heads:
            e = DeliveryError(f"branch {base!r} does not exist in {redact(self.url)} (repository.branch)")
            e.remote = True  # type: ignore[attr-defined]
            raise e
        target = base
        if self.cfg.delivery.mode == "commit" and self.cfg.delivery_branch in self.remote_heads:
            target = self.cfg.delivery_branch
        self.reset_to(target)

    def _ensure_clone(self) -> None:
        self._fresh = False
        if not (self.root / ".git").is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            empty = not any(self.root.iterdir())
            self.run("init", "-q")
            self.run("remote", "add", "origin", self.url)
            self._fresh = empty
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
            self._tracking = covered
            return  # the fetch would neither add, move nor prune a ref (a warm agent's usual case)
        self._fetch(refspecs)

    def _up_to_date(self, covered: dict[str, str], prefix: str | None) -> bool:
        """The local remote-tracking refs already equal what the remote has for `covered`
        (and, under `prefix`, hold nothing the remote no longer has). One local git process
        instead of a round trip to the remote."""
        if not covered or self._fresh or not (self.root / ".git").is_dir():
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
        self._remote("fetch", "-q", "--prune", "--no-tags", "--depth=1", "origin", *refspecs)

    def _remote(self, *args: str) -> str:
        """A git command talking to the remote: its failure says nothing about the clone."""
        try:
            return self.run(*args)
        except DeliveryError as e:
            e.remote = True  # type: ignore[attr-defined]
            raise

    @network_retry
    def ls_remote(self) -> dict[str, str]:
        heads: dict[str, str] = {}
        for line in self._remote("ls-remote", "--heads", "origin").splitlines():
            sha, _, ref = line.partition("\t")
            if ref.startswith("refs/heads/"):
                heads[ref[len("refs/heads/") :]] = sha
        return heads

    def reset_to(self, branch: str) -> None:
        """Make the work tree exactly the fetched tip of remote `branch` (nothing local survives).

        When `refresh()` has just found the remote-tracking ref unmoved, one ``git status`` first
        tells whether the work tree already is that commit, on that branch, with nothing modified,
        staged, untracked or ignored (a warm agent's usual case); only otherwise are the checkout
        and the clean run. A clone initialised just now has nothing to clean.
        """
        expected, fresh = self._tracking.get(branch), self._fresh
        self._fresh = False
        if expected is None or not self._is_clean_at(branch, expected):
            self.run("checkout", "-q", "-f", "-B", branch, f"refs/remotes/origin/{branch}")
            if not fresh:
                self.run("clean", "-q", "-ffdx")
        self.branch = branch

    def _is_clean_at(self, branch: str, sha: str) -> bool:
        """HEAD is local `branch` at `sha`, and the index and work tree hold exactly its files.

        ``git status`` compares every tracked file with the index and the index with HEAD (by
        stat data, by content where the stat data cannot tell) and lists every untracked and
        ignored path, as `git clean -ffdx` would find them; empty directories are not listed (git
        tracks none, so no scan can see one)."""
        out = self.run("status", "--porcelain=v2", "-z", "--branch", "--no-ahead-behind",
                       "--untracked-files=normal", "--ignored=traditional")
        headers = {}
        for entry in out.split("\0"):
            if not entry:
                continue
            if not entry.startswith("# "):
                return False  # a changed, staged, unmerged, untracked or ignored path
            key, _, value = entry[2:].partition(" ")
            headers[key] = value
        if headers.get("branch.head") != branch or headers.get("branch.oid") != sha:
            return False
        self._head = sha
        return True

    def start_from(self, sha: str, local_branch: str) -> None:
        """Reset the work tree to commit `sha` on a local branch (pull-request mode's per-group branches)."""
        self.run("checkout", "-q", "-f", "-B", local_branch, sha)
        self.run("clean", "-q", "-ffdx")

    # --- reading -------------------------------------------------------------------------
    def head(self) -> str:
        return self._head or self.run("rev-parse", "HEAD")

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
        status, out, _ = self._exec(["cat-file", "blob", f"{rev}:{path}"], self._env())
        return bytes(out) if status == 0 else None

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
        status, raw, err = self._exec(args, self._env())
        out = raw.decode("utf-8", "replace")
        # "<flag>\t<from>:<to>\t<summary>": "!" is a refused or failed ref, anything else landed.
        refs = [line.split("\t") for line in out.splitlines() if line.count("\t") == 2]
        refused = [summary for flag, _, summary in refs if flag == "!"]
        if not refused:
            if status != 0 or not refs:
                raise self._error(("push",), status, err or "reported nothing")
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



def _kill_group(proc: subprocess.Popen) -> None:
    """Kill `proc`'s process group (git and what it started) and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass
