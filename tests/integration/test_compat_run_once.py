"""Must show (#20): an Argo CD Application with Argo CD Image Updater annotations for two images
(semver with allow-tags; digest) and Keel-annotated Deployments are updated by `imagebot run --once`
(CLI subprocess, real docker-registry, real bare Git remote) as those tools would choose, byte-exact.

What each tool would choose, from their docs and code (found with the search tool):
- Argo CD Image Updater, docs/basics/update-strategies.md: semver picks the highest version allowed
  by the constraint among the tags allow-tags keeps (prereleases only with a `-0` constraint);
  digest follows the one tag named as the constraint and updates when its digest changes.
- Keel, keel-hq/keel internal/policy/semver.go: minor = a higher version with the same major; patch =
  the same major.minor; never lower (`!currentVersion.LessThan(newVersion)` -> no update); force with
  match-tag follows the current tag (imagebot pins the digest it points to, since Git must change
  for Argo CD / Flux to roll the workload).
No peer behaviour vectors for these tools exist in ../shared/testdata/peers/ (only Flux and
Masterminds ones), so the expectations are written out here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import imagebot, write_config
from tests.support.gitrepo import diff, make_remote, show

APPLICATION = """\
# The shop, deployed by Argo CD; images kept current by Argo CD Image Updater until now.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop
  namespace: argocd
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=HOST/team/web:~1.4, worker=HOST/team/worker:stable
    argocd-image-updater.argoproj.io/web.allow-tags: regexp:^1\\.4\\.[0-9]+$
    argocd-image-updater.argoproj.io/web.helm.image-name: web.image.repository
    argocd-image-updater.argoproj.io/web.helm.image-tag: web.image.tag
    argocd-image-updater.argoproj.io/worker.update-strategy: digest
    argocd-image-updater.argoproj.io/worker.helm.image-spec: worker.image
spec:
  project: default
  source:
    repoURL: https://charts.example.com
    chart: shop
    targetRevision: 3.2.1
    helm:
      parameters:
        - name: web.image.repository
          value: HOST/team/web
        - name: web.image.tag
          value: "1.4.1"      # quoted: stays quoted
        - name: worker.image
          value: HOST/team/worker:stable@OLD
  destination:
    server: https://kubernetes.default.svc
    namespace: shop
"""

KEEL = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  annotations:
    keel.sh/policy: minor
    keel.sh/trigger: poll
    keel.sh/pollSchedule: "@every 5m"
spec:
  template:
    spec:
      containers:
        - name: api
          image: HOST/team/api:2.1.0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cache
  labels:
    keel.sh/policy: force
    keel.sh/match-tag: "true"
spec:
  template:
    spec:
      containers:
        - name: cache
          image: HOST/team/cache:latest
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: legacy
  annotations:
    keel.sh/policy: patch
spec:
  template:
    spec:
      containers:
        - name: legacy
          image: HOST/team/legacy:1.2.9   # the newest 1.2.x: nothing lower is ever taken
"""


@pytest.fixture
def world(tmp_path: Path, registry):
    registry.push_tags("team/web", ["1.3.9", "1.4.0", "1.4.1", "1.4.3", "v1.4.7", "1.4.12-beta.1", "1.5.0"])
    old_worker = registry.push("team/worker", "stable", labels={"build": "1"})
    registry.push_tags("team/api", ["2.0.5", "2.1.0", "2.3.1", "2.4.0-rc.1", "3.0.0"])
    old_cache = registry.push("team/cache", "latest", labels={"build": "1"})
    registry.push_tags("team/legacy", ["1.2.3", "1.2.9", "1.3.0"])
    host = registry.host
    app = APPLICATION.replace("HOST", host).replace("@OLD", "@" + old_worker)
    keel = KEEL.replace("HOST", host)
    remote = make_remote(tmp_path, {"argocd/shop.yaml": app, "keel/workloads.yaml": keel})
    write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=host,
                 extra="compat: [argocd-image-updater, keel]\n")
    # what is pushed after the last deploy: new builds behind the followed tags
    new_worker = registry.push("team/worker", "stable", labels={"build": "2"})
    new_cache = registry.push("team/cache", "latest", labels={"build": "2"})
    assert new_worker != old_worker and new_cache != old_cache
    return tmp_path, remote, host, app, keel, (old_worker, new_worker, new_cache)


def test_run_once_updates_as_argocd_image_updater_and_keel_would(world) -> None:
    cwd, remote, host, app, keel, (old_worker, new_worker, new_cache) = world

    res = imagebot("run", "--once", cwd=cwd)
    assert res.code == 0, res.err + res.out

    expected_app = (app.replace('value: "1.4.1"', 'value: "1.4.3"')  # not v1.4.7 (allow-tags), not 1.5.0 (~1.4)
                    .replace(f"worker:stable@{old_worker}", f"worker:stable@{new_worker}"))
    assert show(remote, "staging", "argocd/shop.yaml").decode() == expected_app
    expected_keel = (keel.replace("team/api:2.1.0", "team/api:2.3.1")  # minor: not 3.0.0, not the rc
                     .replace("team/cache:latest", f"team/cache:latest@{new_cache}"))  # force: same tag, new build
    assert show(remote, "staging", "keel/workloads.yaml").decode() == expected_keel
    changed = [x for x in diff(remote, "main", "staging").splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]
    assert len(changed) == 8, changed  # four values, each one line out and one in

    # a second run: nothing newer, nothing lower (legacy stays on 1.2.9), no commit
    res2 = imagebot("run", "--once", cwd=cwd)
    assert res2.code == 0, res2.err + res2.out
    assert "Nothing to change" in res2.out


def test_validate_names_the_compat_sources(world) -> None:
    cwd, *_ = world
    res = imagebot("validate", cwd=cwd)
    assert res.code == 0, res.err + res.out
    assert "5 image reference(s) with a policy in 2 file(s); 0 problem(s)." in res.out
    assert "2 governed through compat:argocd-image-updater" in res.out
    assert "3 governed through compat:keel" in res.out

    # without opting in, neither tool's configuration is read
    config = cwd / "imagebot.yaml"
    config.write_text(config.read_text().replace("compat: [argocd-image-updater, keel]\n", ""))
    res = imagebot("validate", cwd=cwd)
    assert "0 image reference(s) with a policy" in res.out and "governed" not in res.out


UPDATER = """\
apiVersion: argocd-image-updater.argoproj.io/v1alpha1
kind: ImageUpdater
metadata:
  name: billing
  namespace: argocd
spec:
  applicationRefs:
    - namePattern: "billing-*"
      images:
        - alias: api
          imageName: HOST/team/api:2.x
          manifestTargets:
            helm:
              name: image.repository
              tag: image.tag
"""
BILLING = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: billing-eu
spec:
  source:
    chart: billing
    helm:
      parameters:
        - {name: image.repository, value: HOST/team/api}
        - {name: image.tag, value: '2.0.5'}
"""


def test_an_image_updater_resource_governs_an_application_in_another_file(tmp_path: Path, registry) -> None:
    registry.push_tags("team/api", ["2.0.5", "2.1.0", "2.3.1", "3.0.0"])
    host = registry.host
    files = {"argocd/image-updater.yaml": UPDATER.replace("HOST", host), "apps/billing-eu.yaml": BILLING.replace("HOST", host)}
    remote = make_remote(tmp_path, files)
    write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=host, extra="compat: [argocd-image-updater]\n")
    res = imagebot("run", "--once", cwd=tmp_path)
    assert res.code == 0, res.err + res.out
    expected = files["apps/billing-eu.yaml"].replace("value: '2.0.5'", "value: '2.3.1'")  # 2.x: not 3.0.0; quotes kept
    assert show(remote, "staging", "apps/billing-eu.yaml").decode() == expected
    assert show(remote, "staging", "argocd/image-updater.yaml").decode() == files["argocd/image-updater.yaml"]
