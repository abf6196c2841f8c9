"""Commit mode against real bare Git remotes: staging branch, human commits, racing pushes."""

from __future__ import annotations

import logging
import os
import secrets
import stat
import subprocess
import traceback
from pathlib import Path

import pytest

from imagebot.config.schema import Config
from imagebot.deliver import GitWorkspace, make_deliverer
from imagebot.errors import ConfigError, DeliveryError, PushRejected
from tests.support import gitrepo
from tests.support.deliver_plans import change, manifest, plan, render
from tests.support.git_http import GitHttpServer

WEB = "ghcr.io/org/web"
API = "ghcr.io/org/api"


def config(remote: Path, **delivery) -> Config:
    return Config.model_validate(
        {"repository": {"url": str(remote), "branch": "main"}, "delivery": {"mode": "commit", "branch": "staging", **delivery}}
    )


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return gitrepo.make_remote(
        tmp_path, {"apps/web.yaml": manifest("web", f"{WEB}:1.0.0"), "apps/api.yaml": manifest("api", f"{API}:2.0.0")}
    )


def human_commit(tmp_path: Path, remote: Path, branch: str, files: dict[str, str], message: str, push_to: str | None = None) -> str:
    """A human clones `branch`, commits `files` and pushes (to `push_to`, default the same branch)."""
    work = tmp_path / f"human-{len(list(tmp_path.glob('human-*')))}"
    gitrepo.clone(remote, work, branch)
    gitrepo.write_files(work, files)
    sha = gitrepo.commit_all(work, message)
    gitrepo.git(work, "push", "-q", "origin", f"HEAD:{push_to or branch}")
    return sha


def deliver_once(cfg: Config, cache: Path, *changes):
    ws = GitWorkspace(cfg, cache)
    root = ws.checkout()
    p = plan(*changes)
    deliverer = make_deliverer(cfg, ws)
    return deliverer, deliverer.deliver(p, render(root, p), lambda r: render(r, p))


def test_creates_staging_from_main_and_leaves_main_untouched(tmp_path: Path, remote: Path):
    main_before = gitrepo.rev(remote, "main")
    _, result = deliver_once(config(remote), tmp_path / "cache", change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))

    assert result.pushed and result.attempts == 1 and result.branch == "staging"
    assert gitrepo.rev(remote, "main") == main_before
    assert gitrepo.rev(remote, "staging") == result.commit
    assert gitrepo.rev(remote, "staging~1") == main_before
    assert gitrepo.diff(remote, "main", "staging") .count("\n-          image:") == 1
    assert gitrepo.show(remote, "staging", "apps/web.yaml") == manifest("web", f"{WEB}:1.1.0").encode()
    assert gitrepo.show(remote, "staging", "apps/api.yaml") == gitrepo.show(remote, "main", "apps/api.yaml")
    subject, *_ = gitrepo.git(remote, "log", "-1", "--format=%B", "staging").splitlines()
    assert subject == f"Update {WEB} to 1.1.0"
    assert gitrepo.git(remote, "log", "-1", "--format=%an <%ae>", "staging").strip() == "imagebot <imagebot@users.noreply.github.com>"


def test_builds_on_existing_staging_and_keeps_human_commits(tmp_path: Path, remote: Path):
    cache = tmp_path / "cache"
    deliver_once(config(remote), cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    human = human_commit(tmp_path, remote, "staging", {"NOTES.md": "human was here\n"}, "human: notes")

    _, result = deliver_once(config(remote), cache, change("apps/api.yaml", API, "2.0.0", "2.1.0"))

    assert result.pushed
    assert gitrepo.rev(remote, "staging~1") == human
    assert gitrepo.log(remote, "staging")[:3] == [f"Update {API} to 2.1.0", "human: notes", f"Update {WEB} to 1.1.0"]
    assert gitrepo.show(remote, "staging", "NOTES.md") == b"human was here\n"
    assert gitrepo.log(remote, "main") == ["initial manifests"]


def test_empty_plan_commits_and_pushes_nothing(tmp_path: Path, remote: Path):
    _, result = deliver_once(config(remote), tmp_path / "cache")
    assert not result.pushed and result.commit == ""
    assert gitrepo.branches(remote) == ["main"]


def test_cached_clone_is_reset_to_the_remote(tmp_path: Path, remote: Path):
    cache = tmp_path / "cache"
    ws = GitWorkspace(config(remote), cache)
    root = ws.checkout()
    (root / "apps/web.yaml").write_text("garbage left by a crashed cycle\n")
    (root / "stray.txt").write_text("x")
    gitrepo.git(root, "commit", "-q", "-am", "local commit never pushed")
    human = human_commit(tmp_path, remote, "main", {"apps/new.yaml": "a: 1\n"}, "human on main")

    assert ws.checkout() == root
    assert ws.head() == human
    assert not (root / "stray.txt").exists()
    assert (root / "apps/web.yaml").read_text() == manifest("web", f"{WEB}:1.0.0")


def test_not_leader_stops_before_push(tmp_path: Path, remote: Path):
    cfg = config(remote)
    ws = GitWorkspace(cfg, tmp_path / "cache")
    root = ws.checkout()
    p = plan(change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    result = make_deliverer(cfg, ws).deliver(p, render(root, p), lambda r: render(r, p), can_write=lambda: False)
    assert not result.pushed
    assert any("leader" in pr.message for pr in result.problems)
    assert gitrepo.branches(remote) == ["main"]


def test_message_template_variables(tmp_path: Path, remote: Path):
    template = "chore(images): {summary} [{count}]\n\nplan {plan_id} on {branch}\n* {image} {old} => {new}\n  in {file}:{line} ({policy}; {subject})\n  {reason}\n"
    changes = (change("apps/web.yaml", WEB, "1.0.0", "1.1.0"), change("apps/api.yaml", API, "2.0.0", "2.1.0"))
    deliverer, result = deliver_once(config(remote, message_template=template), tmp_path / "cache", *changes)
    body = gitrepo.git(remote, "log", "-1", "--format=%B", "staging")
    assert body.rstrip("\n").splitlines() == [
        "chore(images): Update 2 images [2]",
        "",
        f"plan {plan(*changes).id} on staging",
        f"* {API} {API}:2.0.0 => {API}:2.1.0",
        "  in apps/api.yaml:10 (semver:^1; Deployment/api container api)",
        "  2.1.0 is the newest tag matching semver:^1",
        f"* {WEB} {WEB}:1.0.0 => {WEB}:1.1.0",
        "  in apps/web.yaml:10 (semver:^1; Deployment/web container web)",
        "  1.1.0 is the newest tag matching semver:^1",
    ]


@pytest.mark.parametrize(
    "template, complaint",
    [("{summary} {tag}", "unknown variable {tag}"), ("{summary", "message_template"), ("   ", "empty")],
)
def test_bad_message_template_is_a_config_error(tmp_path: Path, remote: Path, template: str, complaint: str):
    cfg = config(remote, message_template=template)
    with pytest.raises(ConfigError, match="delivery.message_template") as e:
        make_deliverer(cfg, GitWorkspace(cfg, tmp_path / "cache"))
    assert complaint in str(e.value)


# --- a human push racing the bot's push ----------------------------------------------------

RACE_HOOK = """#!/bin/sh
# Test hook: while the bot's push to staging is being received, move staging to a human commit.
while read old new ref; do
  if [ "$ref" = refs/heads/staging ] && [ -f race-armed ]; then
    rm -f race-armed
    pending=$(git rev-parse refs/human/pending)
    env -u GIT_QUARANTINE_PATH git update-ref refs/heads/staging "$pending" || exit 1
  fi
done
exit 0
"""


def install_race_hook(remote: Path) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(RACE_HOOK)
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


def arm_race(remote: Path, n: int, files: dict[str, str] | None = None) -> str:
    """Park a human commit on top of staging at refs/human/pending, for the hook to land.

    One `git fast-import` in the bare remote: quicker than clone-commit-push, for 100 trials.
    """
    stream = [f"commit refs/human/pending\ncommitter Test Human <human@example.com> {1700000000 + n} +0000\n"]
    message = f"human {n}".encode()
    stream.append(f"data {len(message)}\n{message.decode()}\nfrom refs/heads/staging^0\n")
    for path, content in (files or {"human.txt": f"human change {n}\n"}).items():
        stream.append(f"M 100644 inline {path}\ndata {len(content.encode())}\n{content}\n")
    subprocess.run(["git", "fast-import", "--quiet", "--force"], cwd=remote, input="".join(stream).encode(), check=True)
    (remote / "race-armed").write_text("")
    return gitrepo.rev(remote, "refs/human/pending")


TRIALS = int(os.environ.get("IMAGEBOT_RACE_TRIALS", "100"))


def test_racing_human_push_loses_no_commit(tmp_path: Path, remote: Path):
    cfg = config(remote)
    cache = tmp_path / "cache"
    deliver_once(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.0.1"))
    install_race_hook(remote)
    ws = GitWorkspace(cfg, cache)
    deliverer = make_deliverer(cfg, ws)
    expected: list[str] = []
    lost = 0
    for n in range(1, TRIALS + 1):
        human_sha = arm_race(remote, n)
        root = ws.checkout()
        p = plan(change("apps/web.yaml", WEB, f"1.0.{n}", f"1.0.{n + 1}"))
        result = deliverer.deliver(p, render(root, p), lambda r: render(r, p))
        assert result.pushed and result.attempts == 2, (n, result)
        assert not (remote / "race-armed").exists()
        staging, parent = gitrepo.git(remote, "rev-parse", "staging", "staging~1").split()
        lost += staging != result.commit or parent != human_sha  # the bot's commit sits right on the human's
        expected = [f"Update {WEB} to 1.0.{n + 1}", f"human {n}", *expected]
    assert lost == 0
    assert gitrepo.log(remote, "staging") == [*expected, f"Update {WEB} to 1.0.1", "initial manifests"]
    assert gitrepo.show(remote, "staging", "apps/web.yaml") == manifest("web", f"{WEB}:1.0.{TRIALS + 1}").encode()


def test_human_edit_of_the_same_line_is_skipped_with_a_reason(tmp_path: Path, remote: Path):
    cfg = config(remote)
    cache = tmp_path / "cache"
    deliver_once(cfg, cache, change("apps/api.yaml", API, "2.0.0", "2.0.1"))
    install_race_hook(remote)
    human_sha = arm_race(remote, 1, {"apps/web.yaml": manifest("web", f"{WEB}:1.5.0")})

    deliverer, result = deliver_once(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))

    assert not result.pushed and result.attempts == 2
    assert gitrepo.rev(remote, "staging") == human_sha
    [problem] = result.problems
    assert problem.kind == "edit" and "found 'ghcr.io/org/web:1.5.0' where 'ghcr.io/org/web:1.0.0' was expected" in problem.message
    assert str(problem.location) == "apps/web.yaml:10:18"


def test_gives_up_after_max_push_attempts(tmp_path: Path, remote: Path):
    cfg = config(remote, max_push_attempts=2)
    deliver_once(cfg, tmp_path / "cache", change("apps/api.yaml", API, "2.0.0", "2.0.1"))
    # Every push loses the race: the hook always moves staging first.
    (remote / "hooks" / "pre-receive").write_text(
        "#!/bin/sh\nexport GIT_COMMITTER_NAME=h GIT_COMMITTER_EMAIL=h@example.com GIT_AUTHOR_NAME=h GIT_AUTHOR_EMAIL=h@example.com\n"
        "while read old new ref; do\n"
        "  if [ \"$ref\" = refs/heads/staging ]; then\n"
        "    tip=$(git rev-parse refs/heads/staging)\n"
        "    c=$(env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY git commit-tree -p $tip -m 'human again' $tip^{tree})\n"
        "    env -u GIT_QUARANTINE_PATH git update-ref refs/heads/staging $c\n"
        "  fi\ndone\n"
    )
    (remote / "hooks" / "pre-receive").chmod(0o755)
    with pytest.raises(PushRejected, match="rejected 2 times") as e:
        deliver_once(cfg, tmp_path / "cache", change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    assert e.value.temporary


def test_ssh_signed_commit(tmp_path: Path, remote: Path):
    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "imagebot", "-f", str(key)], check=True)
    _, result = deliver_once(config(remote, sign="ssh", signing_key=str(key)), tmp_path / "cache", change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    assert "-----BEGIN SSH SIGNATURE-----" in gitrepo.git(remote, "cat-file", "-p", result.commit)
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"imagebot@users.noreply.github.com {(tmp_path / 'signing_key.pub').read_text()}")
    gitrepo.git(remote, "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", result.commit)


def test_ssh_signing_needs_a_key(tmp_path: Path, remote: Path):
    cfg = config(remote, sign="ssh")
    with pytest.raises(ConfigError, match="delivery.signing_key"):
        make_deliverer(cfg, GitWorkspace(cfg, tmp_path / "cache"))


def test_preview_shows_the_commit_without_writing(tmp_path: Path, remote: Path):
    cfg, cache = config(remote), tmp_path / "cache"
    deliver_once(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))  # staging exists now
    staging = gitrepo.rev(remote, "staging")
    ws = GitWorkspace(cfg, cache)  # a fresh object, as `imagebot plan` makes: no fetch
    p = plan(change("apps/api.yaml", API, "2.0.0", "2.1.0"))
    root = ws.root
    gitrepo.git(root, "checkout", "-q", "staging")
    preview = make_deliverer(cfg, ws).preview(p, render(root, p))
    [commit] = preview.commits
    assert (commit.branch, commit.base, commit.files) == ("staging", "staging", ("apps/api.yaml",))
    assert commit.message.startswith(f"Update {API} to 2.1.0\n")
    assert str(preview).startswith("Commit to staging, files: apps/api.yaml\n    Update ghcr.io/org/api to 2.1.0")
    assert gitrepo.rev(remote, "staging") == staging
    assert str(make_deliverer(cfg, ws).preview(plan(), render(root, plan()))) == "Nothing to deliver."


def test_https_token_from_a_file_is_used_and_never_stored(tmp_path: Path, remote: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    token = "tok-" + secrets.token_hex(16)
    (tmp_path / "token").write_text(token + "\n")
    with GitHttpServer(remote.parent, token=token) as srv:
        cfg = Config.model_validate(
            {
                "repository": {"url": srv.url(remote.name), "branch": "main"},
                "delivery": {"branch": "staging", "git": {"token_file": str(tmp_path / "token")}},
            }
        )
        _, result = deliver_once(cfg, tmp_path / "cache", change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
        assert result.pushed and "POST /remote.git/git-receive-pack" in srv.requests
        (tmp_path / "token").write_text("wrong-" + token[::-1])
        with pytest.raises(DeliveryError, match="refused the credentials") as e:
            deliver_once(cfg, tmp_path / "cache2", change("apps/web.yaml", WEB, "1.0.0", "1.2.0"))
    stored = [p.read_bytes().decode("latin-1") for p in (tmp_path / "cache").rglob("*") if p.is_file() and "objects" not in p.parts]
    texts = [*stored, str(e.value), "".join(traceback.format_exception(e.value)), *(r.getMessage() for r in caplog.records)]
    assert all(token not in t and token[::-1] not in t for t in texts)
    assert gitrepo.rev(remote, "staging") == result.commit


@pytest.mark.parametrize("damage", ["head", "objects", "index"])
def test_a_damaged_cached_clone_is_cloned_again(tmp_path: Path, remote: Path, damage: str, caplog: pytest.LogCaptureFixture):
    cfg = config(remote)
    ws = GitWorkspace(cfg, tmp_path / "cache")
    root = ws.checkout()
    if damage == "head":
        (root / ".git" / "HEAD").write_text("garbage\n")
    elif damage == "objects":
        for obj in (root / ".git" / "objects").rglob("*"):
            if obj.is_file() and obj.parent.name != "info":
                obj.chmod(0o644)
                obj.write_bytes(b"broken")
    else:
        (root / ".git" / "index").write_bytes(b"not an index")
    p = plan(change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    root = ws.checkout()
    result = make_deliverer(cfg, ws).deliver(p, render(root, p), lambda r: render(r, p))
    assert result.pushed
    assert gitrepo.show(remote, "staging", "apps/web.yaml") == manifest("web", f"{WEB}:1.1.0").encode()
    assert any("is damaged" in r.getMessage() for r in caplog.records)
