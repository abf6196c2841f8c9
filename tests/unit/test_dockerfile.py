"""The Dockerfile's rules, checked without a container build (none is possible here).

Multi-stage, a pinned slim base, git and openssh-client, a non-root USER matching the
Deployment's runAsUser, `imagebot run` as the entrypoint, a health check, no secrets, and a
.dockerignore that lets only the package in. The build stage's install step is run for real
(a wheel of the same sources, offline) so a packaging break shows up here too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        word, _, rest = current.partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


@pytest.fixture(scope="module")
def docker() -> list[tuple[str, str]]:
    return instructions((ROOT / "Dockerfile").read_text())


def stages(docker: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in docker:
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def test_multi_stage_with_a_pinned_slim_base(docker: list[tuple[str, str]]) -> None:
    args = dict(a.split("=", 1) for k, a in docker if k == "ARG" and "=" in a)
    froms = [a for k, a in docker if k == "FROM"]
    assert len(froms) >= 2
    for f in froms:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], f.split()[0])
        assert "slim" in image, image
        assert re.search(r":\d+\.\d+\.\d+-slim", image) or "@sha256:" in image, f"{image}: not pinned to a release"
        assert not image.endswith(":latest")
    assert any(" AS " in f.upper() for f in froms[:-1]), "the build stage is named"


def test_runtime_has_git_and_ssh_and_cleans_apt_lists(docker: list[tuple[str, str]]) -> None:
    runtime = stages(docker)[-1]
    apt = " ".join(a for k, a in runtime if k == "RUN" and "apt-get install" in a)
    assert "--no-install-recommends" in apt
    for pkg in ("git", "openssh-client", "ca-certificates", "amazon-ecr-credential-helper"):
        assert re.search(rf"\s{re.escape(pkg)}(\s|$)", apt), pkg
    assert "rm -rf /var/lib/apt/lists/*" in apt
    assert any(k == "COPY" and a.startswith("--from=") for k, a in runtime), "only built artefacts are copied in"


def test_runs_as_the_non_root_user_the_deployment_expects(docker: list[tuple[str, str]]) -> None:
    runtime = stages(docker)[-1]
    users = [a for k, a in runtime if k == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root UID (runAsNonRoot can verify only numbers)"
    kinds = [k for k, _ in runtime]
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k in ("RUN", "COPY")), "USER comes last"
    deployment = (ROOT / "deploy" / "deployment.yaml").read_text()
    assert f"runAsUser: {uid}" in deployment


def test_build_stage_installs_the_cloud_extras(docker: list[tuple[str, str]]) -> None:
    """`registries[].provider` needs boto3, google-auth and azure-identity in the image."""
    build = stages(docker)[0]
    install = " ".join(a for k, a in build if k == "RUN" and "pip install" in a)
    assert re.search(r"pip install [^&]*\.\[cloud\]", install), install
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras["cloud"][0].split("[")[1].rstrip("]").split(",")) == {"aws", "gcp", "azure"}
    for extra, lib in (("aws", "boto3"), ("gcp", "google-auth"), ("azure", "azure-identity")):
        assert any(d.startswith(lib) for d in extras[extra]), extra


def test_entrypoint_is_imagebot_run_with_health_check_and_port(docker: list[tuple[str, str]]) -> None:
    entry = [a for k, a in docker if k == "ENTRYPOINT"]
    assert [json.loads(e) for e in entry][-1] == ["imagebot", "run"], "exec form, so SIGTERM reaches imagebot"
    health = [a for k, a in docker if k == "HEALTHCHECK"]
    assert health and "/healthz" in health[-1]
    assert [a for k, a in docker if k == "EXPOSE"] == ["8080"]
    assert "containerPort: 8080" in (ROOT / "deploy" / "deployment.yaml").read_text()


def test_writable_paths_are_the_emptydirs_of_the_deployment(docker: list[tuple[str, str]]) -> None:
    env = " ".join(a for k, a in docker if k == "ENV")
    deployment = (ROOT / "deploy" / "deployment.yaml").read_text()
    for path in re.findall(r"(?:HOME|XDG_CACHE_HOME)=(\S+)", env):
        assert f"mountPath: {path}" in deployment, f"{path} is written to but not an emptyDir mount"


def test_no_secrets_in_the_image(docker: list[tuple[str, str]]) -> None:
    for kind, args in docker:
        if kind in ("ENV", "ARG"):
            assert not re.search(r"(TOKEN|PASSWORD|SECRET|API_KEY|PRIVATE)\w*=", args, re.I), args
        if kind in ("COPY", "ADD"):
            assert not re.search(r"\.git-credentials|id_rsa|id_ed25519|\.docker/config|\.netrc|\.env\b|\.pem\b", args), args
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[next(i for i, x in enumerate(ignore) if x and not x.startswith("#"))] == "*", "allow-list: ignore all first"
    allowed = {x[1:] for x in ignore if x.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "LICENSE", "imagebot/"}
    copied = " ".join(a for k, a in docker if k == "COPY" and not a.startswith("--from"))
    for name in ("pyproject.toml", "README.md", "LICENSE", "imagebot"):
        assert name in copied


def test_the_build_stage_install_step_works(tmp_path: Path) -> None:
    """What `pip install .` does in the build stage, offline, on what .dockerignore lets into the context."""
    context = tmp_path / "context"
    context.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, context / name)
    shutil.copytree(ROOT / "imagebot", context / "imagebot", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # pip install . calls the PEP 517 backend's build_wheel; call it directly (pip adds seconds).
    out = subprocess.run(
        [sys.executable, "-c", f"import setuptools.build_meta as b; b.build_wheel({str(tmp_path)!r})"],
        cwd=context, capture_output=True, text=True, timeout=300,
    )
    if out.returncode != 0 and "invalid command 'bdist_wheel'" in out.stderr:
        pytest.skip("setuptools here cannot build wheels offline (pip install wheel)")
    assert out.returncode == 0, out.stderr
    [wheel] = tmp_path.glob("imagebot-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry_points = next(z.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "imagebot = imagebot.cli:main" in entry_points
    for module in ("imagebot/agent/serve.py", "imagebot/k8s/leader.py", "imagebot/cli/run_cmd.py"):
        assert module in names
    assert not any(n.startswith("tests/") for n in names)
