"""`imagebot import flux`: Flux image-automation objects -> the equivalent imagebot.yaml.

Reads ``ImageRepository`` / ``ImagePolicy`` / ``ImageUpdateAutomation`` (and the
``GitRepository`` an automation points at, when it is among the files) of any
``image.toolkit.fluxcd.io`` version. The ``$imagepolicy`` markers already in the manifests name
policies ``<namespace>:<name>``; imagebot resolves them against config policies of that name,
so each ImagePolicy becomes one. What has no equivalent is listed in :attr:`FluxImport.notes`
(and written as comments), never silently dropped. See docs/migration/flux.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from imagebot.errors import ConfigError

FLUX_IMAGE_GROUP = "image.toolkit.fluxcd.io/"
FLUX_SOURCE_GROUP = "source.toolkit.fluxcd.io/"
#: Flux's default exclusion list: cosign signatures, which imagebot always leaves out anyway.
DEFAULT_EXCLUSIONS = ("^.*\\.sig$",)
#: Commit templates from Flux's docs and their imagebot equivalents (Go templates in general have none).
KNOWN_TEMPLATES = {
    "{{range .Updated.Images}}{{println .}}{{end}}": "{new_ref}\n",
    "{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}": "{old} -> {new}\n",
}


@dataclass(frozen=True)
class FluxObject:
    kind: str
    namespace: str
    name: str
    spec: dict[str, Any]
    where: str  # "clusters/my-cluster/podinfo-policy.yaml#0"

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass
class FluxImport:
    """The imported configuration (`config`, plain data) and what could not be carried over."""

    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    comments: dict[str, list[str]] = field(default_factory=dict)  # section -> comment lines
    #: Objects not imported at all (a policy without its repository, an unknown policy kind).
    lost: list[str] = field(default_factory=list)

    def note(self, obj: FluxObject | None, text: str) -> None:
        self.notes.append(f"{obj.ref} ({obj.where}): {text}" if obj else text)


def read_objects(paths: Iterable[str | Path]) -> tuple[list[FluxObject], list[str]]:
    """Every Flux object in the files (folders: their *.yaml / *.yml, recursively), and problems."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
        elif p.exists():
            files.append(p)
        else:
            raise ConfigError(f"{p}: no such file or folder")
    yaml = YAML(typ="safe", pure=True)
    objects: list[FluxObject] = []
    problems: list[str] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            problems.append(f"{f}: skipped, not readable: {e}")
            continue
        if "toolkit.fluxcd.io/" not in text:
            continue  # no Flux object in it (a workload, a Helm template): not this command's business
        try:
            docs = list(yaml.load_all(text))
        except YAMLError as e:
            problems.append(f"{f}: skipped, not valid YAML: {str(e).splitlines()[0]}")
            continue
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict):
                continue
            api = str(doc.get("apiVersion") or "")
            if not api.startswith((FLUX_IMAGE_GROUP, FLUX_SOURCE_GROUP)):
                continue
            meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
            spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
            objects.append(FluxObject(str(doc.get("kind")), str(meta.get("namespace") or "default"),
                                      str(meta.get("name") or "?"), spec, f"{f}#{i}"))
    return objects, problems


def import_flux(objects: list[FluxObject], repository_url: str | None = None) -> FluxImport:
    out = FluxImport()
    repos = {(o.namespace, o.name): o for o in objects if o.kind == "ImageRepository"}
    policies = [o for o in objects if o.kind == "ImagePolicy"]
    automations = [o for o in objects if o.kind == "ImageUpdateAutomation"]
    gitrepos = {(o.namespace, o.name): o for o in objects if o.kind == "GitRepository"}
    if not policies:
        out.note(None, "no ImagePolicy found: nothing to import")

    _automation(out, automations, gitrepos, repository_url)
    registries: dict[str, dict[str, Any]] = {}
    for repo in repos.values():
        _registry(out, repo, registries)
    if registries:
        out.config["registries"] = list(registries.values())
    named: dict[str, dict[str, Any]] = {}
    for pol in policies:
        entry = _policy(out, pol, repos)
        if entry is not None:
            named[f"{pol.namespace}:{pol.name}"] = entry
    if named:
        out.config["policies"] = named
    return out


def _automation(out: FluxImport, automations: list[FluxObject], gitrepos: dict[tuple[str, str], FluxObject],
                repository_url: str | None) -> None:
    repository: dict[str, Any] = {}
    delivery: dict[str, Any] = {"mode": "commit"}
    if len(automations) > 1:
        out.note(None, f"{len(automations)} ImageUpdateAutomations: imagebot.yaml describes one repository; "
                       f"imported {automations[0].ref}, write one config per other one "
                       f"({', '.join(a.ref for a in automations[1:])})")
    auto = automations[0] if automations else None
    git: dict[str, Any] = auto.spec.get("git") or {} if auto else {}
    source = auto.spec.get("sourceRef") or {} if auto else {}
    gitrepo = gitrepos.get((str(source.get("namespace") or (auto.namespace if auto else "")), str(source.get("name"))))
    if repository_url:
        repository["url"] = repository_url
    elif gitrepo is not None and gitrepo.spec.get("url"):
        repository["url"] = str(gitrepo.spec["url"])
    else:
        out.comments.setdefault("repository", []).append(
            "url: set it (the GitRepository "
            f"{source.get('name', '?')!s} the automation writes to is not among the files; or pass --repository-url)")
        repository["url"] = "REPLACE-WITH-THE-GIT-URL"
    branch = ((git.get("checkout") or {}).get("ref") or {}).get("branch")
    if not branch and gitrepo is not None:
        branch = (gitrepo.spec.get("ref") or {}).get("branch")
    if branch:
        repository["branch"] = str(branch)
    if auto is None:
        out.note(None, "no ImageUpdateAutomation found: repository and delivery left at their defaults")
    else:
        update = auto.spec.get("update") or {}
        path = str(update.get("path") or "").strip()
        rel = path.removeprefix("./").strip("/")
        if rel and rel != ".":
            repository["paths"] = [rel]
        if str(update.get("strategy") or "Setters") != "Setters":
            out.note(auto, f"update.strategy {update.get('strategy')!r}: imagebot edits the fields its markers name (Setters)")
        push = git.get("push") or {}
        if push.get("branch") and push.get("branch") != branch:
            delivery["branch"] = str(push["branch"])
        for key in ("refspec", "options"):
            if push.get(key):
                out.note(auto, f"git.push.{key}: no equivalent (imagebot pushes one branch; "
                               "for review use delivery.mode: pull-request)")
        commit = git.get("commit") or {}
        author = commit.get("author") or {}
        if author.get("name") or author.get("email"):
            delivery["author"] = {k: str(author[k]) for k in ("name", "email") if author.get(k)}
        template = commit.get("messageTemplate")
        if template:
            known = KNOWN_TEMPLATES.get(str(template).strip())
            if known is not None:
                delivery["message_template"] = known
            else:
                out.note(auto, "git.commit.messageTemplate is a Go template with no automatic translation; "
                               "imagebot's default message (one line per change) is used — see delivery.message_template")
                out.comments.setdefault("delivery", []).append(
                    "Flux's messageTemplate was: " + json.dumps(str(template)))
        if (commit.get("signingKey") or {}).get("secretRef"):
            out.note(auto, "git.commit.signingKey: set delivery.sign: gpg and delivery.signing_key "
                           f"(Flux read the key from Secret {commit['signingKey']['secretRef'].get('name')})")
        if auto.spec.get("policySelector"):
            out.note(auto, "policySelector: no equivalent; imagebot applies every marker under repository.paths")
        if auto.spec.get("interval"):
            out.config["interval"] = _duration(str(auto.spec["interval"]))
        if auto.spec.get("suspend"):
            out.note(auto, "suspend: true — imagebot has no switch per automation; do not run it for this repository")
    if gitrepo is not None and (gitrepo.spec.get("secretRef") or {}).get("name"):
        out.comments.setdefault("delivery", []).append(
            f"Git credentials: Flux used Secret {gitrepo.namespace}/{gitrepo.spec['secretRef']['name']}; "
            "mount it and set delivery.git.token_file (HTTPS) or ssh_key_file + known_hosts_file (SSH)")
    out.config["repository"] = repository
    out.config["delivery"] = delivery


def _duration(text: str) -> str:
    """Go durations as Flux writes them ("5m0s", "1h") in imagebot's form ("5m", "1h")."""
    out = text.replace("h0m0s", "h").replace("m0s", "m")
    return out if out else text


def _registry(out: FluxImport, repo: FluxObject, registries: dict[str, dict[str, Any]]) -> None:
    image = str(repo.spec.get("image") or "")
    first = image.split("/", 1)[0]
    host = first if "/" in image and ("." in first or ":" in first or first == "localhost") else "docker.io"
    entry = registries.setdefault(host, {"host": host})
    if repo.spec.get("insecure"):
        entry["insecure"] = True
    comments = out.comments.setdefault(f"registry {host}", [])
    secret = (repo.spec.get("secretRef") or {}).get("name")
    if secret:
        comments.append(f"credentials: Flux used Secret {repo.namespace}/{secret} (docker-registry) for {image}; "
                        "mount it and point DOCKER_CONFIG at it, or set password_file / username")
    if repo.spec.get("provider") and repo.spec.get("provider") != "generic":
        comments.append(f"provider {repo.spec['provider']}: Flux used the cloud's workload identity for {image}; "
                        "give imagebot the same (credential_helper, e.g. ecr-login, or a provider setting)")
    if (repo.spec.get("certSecretRef") or {}).get("name"):
        comments.append(f"TLS: Flux used the CA in Secret {repo.namespace}/{repo.spec['certSecretRef']['name']}; "
                        "mount it and set ca_file")
    if repo.spec.get("serviceAccountName"):
        out.note(repo, "serviceAccountName: imagebot reads pull secrets from its own mounts, not a service account's")
    if repo.spec.get("interval"):
        out.note(repo, f"interval {repo.spec['interval']}: imagebot lists tags once per cycle (`interval`) "
                       "and on registry webhooks; there is no per-image scan interval")
    if repo.spec.get("accessFrom"):
        out.note(repo, "accessFrom: no equivalent (imagebot has no namespaces to grant access across)")


def _policy(out: FluxImport, pol: FluxObject, repos: dict[tuple[str, str], FluxObject]) -> dict[str, Any] | None:
    ref = pol.spec.get("imageRepositoryRef") or {}
    repo = repos.get((str(ref.get("namespace") or pol.namespace), str(ref.get("name"))))
    if repo is None or not repo.spec.get("image"):
        out.note(pol, f"its ImageRepository {ref.get('name')!r} is not among the files: policy not imported")
        out.lost.append(pol.ref)
        return None
    entry: dict[str, Any] = {"image": str(repo.spec["image"])}
    choice = pol.spec.get("policy") or {}
    if "semver" in choice:
        entry["policy"] = f"semver:{(choice['semver'] or {}).get('range', '*')}"
    elif "alphabetical" in choice:
        entry["policy"] = f"alphabetical:{str((choice['alphabetical'] or {}).get('order') or 'asc').lower()}"
    elif "numerical" in choice:
        entry["policy"] = f"numerical:{str((choice['numerical'] or {}).get('order') or 'asc').lower()}"
    else:
        out.note(pol, f"spec.policy {sorted(choice)!r}: no policy imagebot knows; not imported")
        out.lost.append(pol.ref)
        return None
    filters = pol.spec.get("filterTags") or {}
    if filters.get("pattern"):
        entry["tag-filter"] = str(filters["pattern"])
    if filters.get("extract"):
        entry["extract"] = str(filters["extract"])
    exclusions = [str(x) for x in repo.spec.get("exclusionList") or () if str(x) not in DEFAULT_EXCLUSIONS]
    if exclusions:
        entry["exclude"] = "|".join(f"(?:{x})" for x in exclusions)
    reflect = str(pol.spec.get("digestReflectionPolicy") or "Never")
    if reflect in ("Always", "IfNotPresent"):
        entry["pin-digest"] = True
        if reflect == "Always":
            out.note(pol, "digestReflectionPolicy Always: imagebot re-reads the digest every cycle (pin-digest), "
                          "so a tag moved in place is followed too")
    if pol.spec.get("interval"):
        out.note(pol, "interval: no per-policy interval (imagebot decides every cycle)")
    return entry


def render(result: FluxImport, sources: list[str]) -> str:
    """The imported configuration as commented YAML (JSON-quoted strings are YAML too)."""
    lines = [
        "# Imported from Flux image automation by `imagebot import flux` from:",
        *[f"#   {s}" for s in sources],
        "# The $imagepolicy markers in the manifests keep working: each ImagePolicy is a named policy below.",
    ]
    if result.notes:
        lines.append("# Not carried over (no equivalent, or needs you):")
        lines += [f"#   - {n}" for n in result.notes]
    cfg = result.config
    for section in ("repository", "delivery"):
        lines.append(f"{section}:")
        lines += [f"  # {c}" for c in result.comments.get(section, [])]
        lines += _block(cfg.get(section) or {}, 1)
    if "interval" in cfg:
        lines.append(f"interval: {json.dumps(cfg['interval'])}")
    if cfg.get("registries"):
        lines.append("registries:")
        for reg in cfg["registries"]:
            comments = result.comments.get(f"registry {reg['host']}", [])
            lines.append(f"  - host: {json.dumps(reg['host'])}")
            lines += [f"    # {c}" for c in comments]
            lines += _block({k: v for k, v in reg.items() if k != "host"}, 2)
    if cfg.get("policies"):
        lines.append("policies:")
        for name, entry in cfg["policies"].items():
            lines.append(f"  {json.dumps(name)}:")
            lines += _block(entry, 2)
    return "\n".join(lines) + "\n"


def _block(data: dict[str, Any], depth: int) -> list[str]:
    pad = "  " * depth
    out: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out.append(f"{pad}{key}:")
            out += _block(value, depth + 1)
        elif isinstance(value, list):
            out.append(f"{pad}{key}: [{', '.join(json.dumps(v) for v in value)}]")
        else:
            out.append(f"{pad}{key}: {json.dumps(value)}")
    return out
