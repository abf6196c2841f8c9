"""Must show (#20): Flux's image-automation guide objects (podinfo) imported with `imagebot import flux`,
then `imagebot plan` on the guide's manifests proposes what Flux would, and `run --once` commits it.

The objects are those of Flux's guide "Automate image updates to Git"
(fluxcd/website content/en/flux/guides/image-update.md, found with the search tool): the
`flux create image repository/policy/update ... --export` outputs podinfo-registry.yaml,
podinfo-policy.yaml (semver 5.0.x), flux-system-automation.yaml, and podinfo-deployment.yaml with
the marker `# {"$imagepolicy": "flux-system:podinfo"}`. Two changes, both needed to run against a
local registry: ghcr.io is replaced by the test docker-registry's 127.0.0.1:PORT, and the
ImageRepository gets Flux's own `spec.insecure: true` (plain HTTP). The registry is seeded with
podinfo-like tags; the guide says the policy resolves to 5.0.3 and the marker line becomes
`image: ghcr.io/stefanprodan/podinfo:5.0.3 # {"$imagepolicy": "flux-system:podinfo"}`.
"""

from __future__ import annotations

import json
from pathlib import Path

from imagebot.config.load import load
from tests.support.cli import imagebot
from tests.support.gitrepo import git, make_remote, show, write_files

REGISTRY = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  image: ghcr.io/stefanprodan/podinfo
  interval: 5m
  insecure: true
"""
POLICY = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: 5.0.x
"""
AUTOMATION = """\
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImageUpdateAutomation
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 30m
  sourceRef:
    kind: GitRepository
    name: flux-system
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcdbot@users.noreply.github.com
        name: fluxcdbot
      messageTemplate: '{{range .Updated.Images}}{{println .}}{{end}}'
    push:
      branch: main
  update:
    path: ./clusters/my-cluster
    strategy: Setters
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: default
spec:
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
        - name: podinfod
          image: ghcr.io/stefanprodan/podinfo:5.0.0 # {"$imagepolicy": "flux-system:podinfo"}
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 9898
              protocol: TCP
"""
PODINFO_TAGS = ["4.0.6", "5.0.0", "5.0.1", "5.0.2", "5.0.3", "5.1.0", "5.2.1", "6.0.0", "6.3.3", "latest"]


def test_guide_objects_imported_then_plan_proposes_what_flux_would(tmp_path: Path, registry) -> None:
    registry.push_tags("stefanprodan/podinfo", PODINFO_TAGS)
    files = {
        f"clusters/my-cluster/{name}": text.replace("ghcr.io", registry.host)
        for name, text in [("podinfo-registry.yaml", REGISTRY), ("podinfo-policy.yaml", POLICY),
                           ("flux-system-automation.yaml", AUTOMATION), ("podinfo-deployment.yaml", DEPLOYMENT)]
    }
    remote = make_remote(tmp_path, files)
    work = tmp_path / "work"
    write_files(work, files)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    res = imagebot("import", "flux", "clusters/my-cluster", "--repository-url", str(remote), "-o", str(tmp_path / "imagebot.yaml"),
                   cwd=work, env=env)
    assert res.code == 0, res.err
    cfg = load(tmp_path / "imagebot.yaml")
    podinfo = cfg.policies["flux-system:podinfo"]
    assert (podinfo.image, podinfo.policy) == (f"{registry.host}/stefanprodan/podinfo", "semver:5.0.x")
    assert (cfg.repository.branch, cfg.repository.paths, cfg.delivery_branch) == ("main", ("clusters/my-cluster",), "main")
    assert (cfg.delivery.author.name, cfg.delivery.author.email) == ("fluxcdbot", "fluxcdbot@users.noreply.github.com")
    assert cfg.delivery.message_template == "{new_ref}\n"
    assert cfg.registry(registry.host).insecure and cfg.interval == "30m"
    assert "interval 5m: imagebot lists tags once per cycle" in res.err  # reported, not silently dropped

    before = files["clusters/my-cluster/podinfo-deployment.yaml"]
    expected = before.replace("podinfo:5.0.0 #", "podinfo:5.0.3 #")
    res = imagebot("plan", "--json", "-c", str(tmp_path / "imagebot.yaml"), cwd=tmp_path, env=env)
    assert res.code == 0, res.err + res.out
    doc = json.loads(res.out)
    (change,) = doc["changes"]
    assert (change["file"], change["line"], change["old"], change["new"]) == (
        "clusters/my-cluster/podinfo-deployment.yaml", 17,
        f"{registry.host}/stefanprodan/podinfo:5.0.0", f"{registry.host}/stefanprodan/podinfo:5.0.3")
    assert f'+          image: {registry.host}/stefanprodan/podinfo:5.0.3 # {{"$imagepolicy": "flux-system:podinfo"}}' in doc["diff"]
    assert [x for x in doc["diff"].splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")] == [
        f'-          image: {registry.host}/stefanprodan/podinfo:5.0.0 # {{"$imagepolicy": "flux-system:podinfo"}}',
        f'+          image: {registry.host}/stefanprodan/podinfo:5.0.3 # {{"$imagepolicy": "flux-system:podinfo"}}']

    res = imagebot("run", "--once", "-c", str(tmp_path / "imagebot.yaml"), cwd=tmp_path, env=env)
    assert res.code == 0, res.err + res.out
    assert show(remote, "main", "clusters/my-cluster/podinfo-deployment.yaml").decode() == expected
    assert git(remote, "log", "-1", "--format=%B", "main").strip() == f"{registry.host}/stefanprodan/podinfo:5.0.3"
    assert git(remote, "log", "-1", "--format=%an <%ae>", "main").strip() == "fluxcdbot <fluxcdbot@users.noreply.github.com>"


def test_what_has_no_equivalent_is_reported(tmp_path: Path) -> None:
    extra = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: build
  namespace: apps
spec:
  imageRepositoryRef:
    name: app
    namespace: flux-system
  digestReflectionPolicy: Always
  filterTags:
    pattern: '^main-[a-fA-F0-9]+-(?P<ts>.*)'
    extract: '$ts'
  policy:
    numerical:
      order: asc
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: orphan
  namespace: apps
spec:
  imageRepositoryRef:
    name: missing
  policy:
    alphabetical: {}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app
  namespace: flux-system
spec:
  image: registry.example.com/team/app
  secretRef:
    name: regcred
  exclusionList: ["^.*\\\\.sig$", "^dev-"]
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  url: ssh://git@github.com/org/fleet
  ref:
    branch: main
  secretRef:
    name: flux-system
"""
    # The ImagePolicy examples: "Select the latest main branch build" from the same guide.
    (tmp_path / "flux.yaml").write_text(extra + "---\n" + AUTOMATION.replace(
        "'{{range .Updated.Images}}{{println .}}{{end}}'", "'Automation name: {{ .AutomationObject }}'").replace(
        "branch: main\n  update", "branch: image-updates\n  update"))
    res = imagebot("import", "flux", "flux.yaml", cwd=tmp_path)
    assert res.code == 1, res.err  # one policy could not be imported at all
    assert "ImagePolicy/apps/orphan" in res.err and "'missing' is not among the files" in res.err
    assert "messageTemplate is a Go template with no automatic translation" in res.err
    out = res.out
    assert '  "apps:build":\n    image: "registry.example.com/team/app"\n    policy: "numerical:asc"\n' in out
    assert '    tag-filter: "^main-[a-fA-F0-9]+-(?P<ts>.*)"\n    extract: "$ts"\n    exclude: "(?:^dev-)"\n    pin-digest: true\n' in out
    assert 'url: "ssh://git@github.com/org/fleet"' in out and 'branch: "image-updates"' in out
    assert "Flux used Secret flux-system/regcred" in out and "Flux used Secret flux-system/flux-system" in out
    (tmp_path / "imagebot.yaml").write_text(out)
    cfg = load(tmp_path / "imagebot.yaml")  # the fragment loads as it is
    assert cfg.delivery_branch == "image-updates" and cfg.policies["apps:build"].pin_digest


def test_other_files_in_the_folder_are_left_alone_and_broken_flux_files_reported(tmp_path: Path) -> None:
    write_files(tmp_path / "fleet", {
        "podinfo-policy.yaml": POLICY, "podinfo-registry.yaml": REGISTRY,
        "chart/templates/deployment.yaml": "image: {{ .Values.image }}\n  broken: [\n",  # not Flux: ignored
        "broken-flux.yaml": "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nspec: [\n",
    })
    res = imagebot("import", "flux", "fleet", cwd=tmp_path)
    assert res.code == 1
    assert "broken-flux.yaml: skipped, not valid YAML" in res.err and "deployment.yaml" not in res.err
    assert '"flux-system:podinfo":' in res.out
