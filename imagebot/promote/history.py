"""When a value reached staging: the newest first-parent commit on the staging branch that changed
the count of the reference's line in its file (`git log -S`), with its committer time.

No state store: the Git history is the record. The bot's clone is shallow (the workspace fetches
`--depth=1`), so when the commit found is the clone's history boundary — it only seems to add the
line — and the soak would still be running from it, history is deepened (`--deepen`, then
`--unshallow`) until the real commit is found or is known to be old enough.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from imagebot.model import Occurrence
from imagebot.promote.gates import Introduced

#: `git fetch --deepen=N` steps before fetching the whole history.
DEEPEN_STEPS = (50, 1000)


class Git(Protocol):
    root: Path

    def run(self, *args: str) -> str: ...


class GitHistory:
    """History of one branch (`refs/remotes/origin/<branch>`) in the bot's clone."""

    def __init__(self, git: Git, branch: str):
        self.git, self.branch = git, branch
        self.ref = f"refs/remotes/origin/{branch}"
        self.deepened = 0  # fetches made to deepen history (tests look at it)

    def _shallow(self) -> set[str]:
        path = self.git.root / ".git" / "shallow"
        return set(path.read_text().split()) if path.is_file() else set()

    def _needle(self, occ: Occurrence) -> str:
        """The reference's whole line (key and value): precise where a bare tag like `2` is not."""
        text = self.git.run("show", f"{self.ref}:{occ.location.file}")
        lines = text.splitlines()
        line = lines[occ.location.line - 1].strip() if 0 < occ.location.line <= len(lines) else ""
        return line if occ.value in line else occ.value

    def _deepen(self, step: int) -> bool:
        """Fetch more history; False when there is nothing more to fetch."""
        if not self._shallow():
            return False
        refspec = f"+refs/heads/{self.branch}:{self.ref}"
        if step < len(DEEPEN_STEPS):
            self.git.run("fetch", "-q", "--no-tags", f"--deepen={DEEPEN_STEPS[step]}", "origin", refspec)
        else:
            self.git.run("fetch", "-q", "--no-tags", "--unshallow", "origin", refspec)
        self.deepened += 1
        return True

    def introduced(self, occ: Occurrence, need_before: float) -> Introduced | None:
        needle = self._needle(occ)
        for step in range(len(DEEPEN_STEPS) + 2):
            out = self.git.run("log", "-1", "--first-parent", "--format=%H %ct", f"-S{needle}", self.ref, "--",
                               occ.location.file).strip()  # attached: a YAML list line starts with "-"
            shallow = self._shallow()
            if out:
                sha, ct = out.split()
                found = Introduced(sha, float(ct), exact=sha not in shallow)
                if found.exact or found.time <= need_before:
                    return found  # the real commit, or the boundary is old enough for the soak anyway
            if not self._deepen(step):
                return None  # a full history in which no commit adds the line
        return None
