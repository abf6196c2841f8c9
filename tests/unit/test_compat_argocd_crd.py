"""Argo CD Image Updater's ImageUpdater resources (v1.x CRD) select Applications in other files.

The resource's shape is the one of argoproj-labs/argocd-image-updater docs/basics/update-strategies.md
(`images[].alias`, `imageName`, `commonUpdateSettings.updateStrategy/allowTags/ignoreTags`, settings
at the global, application and image level, the most specific winning) and of its users' manifests
found with the search tool (`spec.namespace`, `applicationRefs[].namePattern`, `useAnnotations`,
`manifestTargets.helm.name/tag`, `manifestTargets.kustomize.name`)."""

from __future__ import annotations

from pathlib import Path

from imagebot.discover import scan
from imagebot.discover.compat import compat_source
from imagebot.model import FieldKind

UPDATER = """\
apiVersion: argocd-image-updater.argoproj.io/v1alpha1
kind: ImageUpdater
metadata:
  name: shop
  namespace: argocd
spec:
  namespace: argocd
  commonUpdateSettings:
    updateStrategy: semver
  applicationRefs:
    - namePattern: "shop-*"
      commonUpdateSettings:
        ignoreTags: ["latest", "master"]
      images:
        - alias: web
          imageName: ghcr.io/org/web:~1.4
          commonUpdateSettings:
            allowTags: "regexp:^1\\\\.4\\\\.[0-9]+$"
          manifestTargets:
            helm:
              name: web.image.repository
              tag: web.image.tag
        - alias: ui
          imageName: ghcr.io/org/ui
          commonUpdateSettings:
            updateStrategy: newest-build
          manifestTargets:
            kustomize:
              name: ghcr.io/org/ui
    - namePattern: legacy
      useAnnotations: true
"""

APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop-eu
  namespace: argocd
spec:
  sources:
    - chart: shop
      helm:
        parameters:
          - name: web.image.tag
            value: 1.4.1
    - path: ui
      kustomize:
        images:
          - ghcr.io/org/ui:3f2a1bc
"""


def test_image_updater_resource_governs_applications_in_other_files(tmp_path: Path) -> None:
    (tmp_path / "argocd").mkdir()
    (tmp_path / "argocd" / "image-updater.yaml").write_text(UPDATER)
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "shop-eu.yaml").write_text(APP)
    (tmp_path / "apps" / "other.yaml").write_text(APP.replace("shop-eu", "other"))

    assert not scan(tmp_path).occurrences  # not without opting in
    found = scan(tmp_path, compat_with=["argocd-image-updater"])
    assert not found.problems, found.problems
    by_image = {o.image: o for o in found.occurrences}
    assert {o.location.file for o in found.occurrences} == {"apps/shop-eu.yaml"}  # "other" is not selected
    web, ui = by_image["ghcr.io/org/web"], by_image["ghcr.io/org/ui"]
    assert (web.field, web.value, web.policy.policy, web.policy.tag_filter) == (FieldKind.TAG, "1.4.1", "semver:~1.4", "^1\\.4\\.[0-9]+$")
    assert web.policy.exclude == "(?:^latest$)|(?:^master$)"  # the application level's ignoreTags
    assert (ui.field, ui.value, ui.policy.policy) == (FieldKind.IMAGE, "ghcr.io/org/ui:3f2a1bc", "newest-build")
    assert compat_source(web.policy) == "compat:argocd-image-updater"
    assert "argocd/image-updater.yaml ImageUpdater/argocd/shop applicationRefs[0].images[0]" in web.policy.source

    # editing the ImageUpdater changes the result, also through the agent's cache
    from imagebot.discover import DiscoverCache

    cache = DiscoverCache()
    assert len(scan(tmp_path, compat_with=["argocd-image-updater"], cache=cache, revision="r1").occurrences) == 2
    (tmp_path / "argocd" / "image-updater.yaml").write_text(UPDATER.replace('"shop-*"', '"nothing-*"'))
    assert not scan(tmp_path, compat_with=["argocd-image-updater"], cache=cache, revision="r2").occurrences
