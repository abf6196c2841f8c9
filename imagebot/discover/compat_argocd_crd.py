"""Argo CD Image Updater's ``ImageUpdater`` resources (its v1.x CRD), read as they are.

An ImageUpdater selects Applications by ``spec.applicationRefs[].namePattern`` and says, per
image, what the annotations used to say. The resources usually live in another file than the
Applications, so discover reads them first (:func:`collect`) and the Application reader
(:mod:`imagebot.discover.compat_argocd`) treats their settings as the Application's annotations::

    spec:
      namespace: argocd                      # the Applications' namespace
      commonUpdateSettings: {...}            # defaults for every application and image
      applicationRefs:
        - namePattern: "shop-*"              # a glob over Application names
          useAnnotations: false              # true: read the Application's annotations instead
          commonUpdateSettings: {...}        # defaults for its images
          images:
            - alias: web
              imageName: ghcr.io/org/web:~1.4
              commonUpdateSettings: {updateStrategy: semver, allowTags: "regexp:...", ignoreTags: [...]}
              manifestTargets:
                helm: {name: web.image.repository, tag: web.image.tag}   # or spec: ...
                kustomize: {name: ghcr.io/org/web}

Write-back settings (``writeBackConfig``) have no in-place equivalent; see
docs/migration/argocd-image-updater.md.
"""

from __future__ import annotations

import fnmatch
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from imagebot.discover.compat_argocd import IMAGE_LIST, PREFIX, parse_image_list
from imagebot.model import Location, Problem

API_GROUP = "argocd-image-updater.argoproj.io/"
_SETTINGS = {"updateStrategy": "update-strategy", "allowTags": "allow-tags", "ignoreTags": "ignore-tags"}
_TARGETS = {("helm", "name"): "helm.image-name", ("helm", "tag"): "helm.image-tag", ("helm", "spec"): "helm.image-spec",
            ("kustomize", "name"): "kustomize.image-name"}


@dataclass(frozen=True)
class Rule:
    """One ``applicationRefs[]`` entry of an ImageUpdater, as annotation entries (key, value, where)."""

    name_pattern: str
    namespace: str  # "" = any
    use_annotations: bool
    entries: tuple[tuple[str, str, str], ...]

    def selects(self, name: str, namespace: str) -> bool:
        if self.namespace and namespace and namespace != self.namespace:
            return False
        return fnmatch.fnmatchcase(name, self.name_pattern)


def collect(root: pathlib.Path, files: Iterable[str]) -> tuple[tuple[Rule, ...], list[Problem]]:
    """Every ImageUpdater rule in the repository's files, and problems with them."""
    rules: list[Rule] = []
    problems: list[Problem] = []
    yaml = YAML(typ="safe", pure=True)
    for rel in files:
        try:
            data = (root / rel).read_bytes()
        except OSError:
            continue  # the main scan reports unreadable files
        if b"ImageUpdater" not in data or API_GROUP.encode() not in data:
            continue
        try:
            docs = list(yaml.load_all(data.decode("utf-8-sig")))
        except (UnicodeDecodeError, YAMLError):
            continue  # the main scan reports broken YAML
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "ImageUpdater" and str(doc.get("apiVersion", "")).startswith(API_GROUP):
                rules += _rules(rel, doc, problems)
    return tuple(rules), problems


def _settings(*levels: Any) -> dict[str, Any]:
    """commonUpdateSettings merged, the most specific level last (it wins)."""
    out: dict[str, Any] = {}
    for level in levels:
        if isinstance(level, dict) and isinstance(level.get("commonUpdateSettings"), dict):
            out.update({k: v for k, v in level["commonUpdateSettings"].items() if v is not None})
    return out


def _rules(rel: str, doc: dict[str, Any], problems: list[Problem]) -> list[Rule]:
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
    who = f"ImageUpdater/{meta.get('namespace') or 'default'}/{meta.get('name') or '?'}"
    where = f"{rel} {who}"
    out: list[Rule] = []
    for i, ref in enumerate(spec.get("applicationRefs") or []):
        if not isinstance(ref, dict) or not ref.get("namePattern"):
            problems.append(Problem("compat", f"applicationRefs[{i}] has no namePattern", Location(rel), who))
            continue
        entries: list[tuple[str, str, str]] = []
        listed: list[str] = []
        for j, image in enumerate(ref.get("images") or []):
            if not isinstance(image, dict) or not image.get("imageName"):
                problems.append(Problem("compat", f"applicationRefs[{i}].images[{j}] has no imageName", Location(rel), who))
                continue
            alias = str(image.get("alias") or "")
            listed.append(f"{alias}={image['imageName']}" if alias else str(image["imageName"]))
            key = parse_image_list(listed[-1])[0].key
            at = f"{where} applicationRefs[{i}].images[{j}]"
            for name, value in _settings(spec, ref, image).items():
                if name in _SETTINGS:
                    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
                    entries.append((f"{PREFIX}{key}.{_SETTINGS[name]}", text, at))
            targets = image.get("manifestTargets") if isinstance(image.get("manifestTargets"), dict) else {}
            for (tool, field), option in _TARGETS.items():
                value = (targets.get(tool) or {}).get(field) if isinstance(targets.get(tool), dict) else None
                if value:
                    entries.append((f"{PREFIX}{key}.{option}", str(value), at))
        entries.insert(0, (IMAGE_LIST, ", ".join(listed), f"{where} applicationRefs[{i}]"))
        out.append(Rule(str(ref["namePattern"]), str(spec.get("namespace") or ""), bool(ref.get("useAnnotations")),
                        tuple(entries)))
    return out
