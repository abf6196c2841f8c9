"""Config policies and rules as discover reads them (imagebot.discover.configured): the same
policies as the config's models give, and settings a parsing worker unpickles without pydantic."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from imagebot import cores, discover
from imagebot.config.load import load_text
from imagebot.discover.configured import ConfiguredPolicy, ConfiguredRule, policies_of, rules_of

CONFIG = """\
repository: {url: /nowhere}
policies:
  api: {image: ghcr.io/org/api, policy: "semver:^1", tag-filter: '^v?\\d', exclude: rc, prerelease: true, pin-digest: true, min-age: 3d}
  web: {image: web, policy: minor}
rules:
  - match: {image: "ghcr.io/org/*", kind: [container, image], path: "apps/*"}
    policy: patch
    min-age: 1h
  - match: {workload: Deployment/legacy}
    policy: ignore
  - policy: "semver:^2"
"""

MARKED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: w{i}
spec:
  template:
    spec:
      containers:
        - name: api
          image: ghcr.io/org/api:1.0.{i} # {{"$imagebot": "api"}}
        - name: other
          image: ghcr.io/org/other-{i}:2.0.{i}
        - name: web
          image: web:1.{i}.0 # {{"$imagebot": "web"}}
"""

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: web
    newTag: 1.2.0
"""


@pytest.fixture(scope="module")
def cfg():
    return load_text(CONFIG, "imagebot.yaml")


def test_a_policy_reads_as_the_model_gives_it(cfg) -> None:
    light = policies_of(cfg.policies)
    assert list(light) == list(cfg.policies)
    for name, model in cfg.policies.items():
        assert light[name].image == model.image
        for source in ("", "apps/web.yaml:7 marker"):
            got, want = light[name].spec(source), model.spec(source)
            assert got == want and got.origin == want.origin == "policy" and got.source == source
    assert light["api"].spec().min_age == "3d" and light["api"].spec().pin_digest


def test_rules_keep_their_order_match_line_and_spec(cfg) -> None:
    light = rules_of(cfg.rules)
    assert len(light) == len(cfg.rules) == 3
    for got, model in zip(light, cfg.rules):
        assert (got.policy, got.line) == (model.policy, model.line)
        assert got.line is not None
        m = model.match
        assert (got.match.image, got.match.path, got.match.kind, got.match.workload, got.match.namespace,
                got.match.container) == (m.image, m.path, m.kind, m.workload, m.namespace, m.container)
        assert got.spec("x") == model.spec("x") and got.spec("x").origin == "rule"


def test_converting_again_changes_nothing(cfg) -> None:
    light_policies, light_rules = policies_of(cfg.policies), rules_of(cfg.rules)
    assert policies_of(light_policies) == light_policies
    assert rules_of(light_rules) == light_rules
    assert all(isinstance(p, ConfiguredPolicy) for p in light_policies.values())
    assert all(isinstance(r, ConfiguredRule) for r in light_rules)


def _tree(tmp_path: Path, files: int) -> Path:
    root = tmp_path / "tree"
    (root / "apps").mkdir(parents=True)
    for i in range(files):
        (root / "apps" / f"w{i:04d}.yaml").write_text(MARKED.format(i=i))
    (root / "apps" / "kustomization.yaml").write_text(KUSTOMIZATION)  # a config policy by its image
    return root


def test_the_parsing_worker_gets_settings_it_unpickles_without_pydantic(cfg, tmp_path: Path, monkeypatch) -> None:
    """What the worker is sent, decoded in a fresh interpreter as the worker decodes it: no
    pydantic, no config schema (their import was half of a new worker's time before its first file)."""
    sent: list[tuple] = []
    real = cores.parse_files

    def spy(jobs, parse, worker_parse, settings, **kw):
        sent.append(settings)
        return real(jobs, parse, worker_parse, settings, workers=0)

    monkeypatch.setattr(cores, "parse_files", spy)
    discover.scan(_tree(tmp_path, 3), policies=cfg.policies, rules=cfg.rules)
    assert sent
    blob = pickle.dumps(sent[0], pickle.HIGHEST_PROTOCOL)
    probe = ("import pickle, sys; import imagebot.discover, imagebot.apply, imagebot.cores; "
             "settings = pickle.loads(sys.stdin.buffer.read()); "
             "print(len(settings[0]), len(settings[1]), sorted({m.split('.')[0] for m in sys.modules "
             "if m.startswith(('pydantic', 'imagebot.config.schema'))}))")
    out = subprocess.run([sys.executable, "-c", probe], input=blob, capture_output=True, check=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert out.stdout.decode().split() == ["2", "3", "[]"], out.stderr.decode()


def test_a_scan_through_the_worker_finds_what_one_process_finds(cfg, tmp_path: Path, monkeypatch) -> None:
    """Named policies (markers) and rules, with the parsing worker and without: the same
    occurrences, policies, sources and origins, in the same order."""
    root = _tree(tmp_path, cores.MIN_FILES + 20)
    found = {}
    for workers in ("1", "0"):
        monkeypatch.setenv(cores.ENV, workers)
        found[workers] = discover.scan(root, policies=cfg.policies, rules=cfg.rules)
        cores.release()
    with_worker, alone = found["1"], found["0"]
    assert with_worker.occurrences == alone.occurrences
    assert [(o.policy.source, o.policy.origin) for o in with_worker.occurrences] == \
           [(o.policy.source, o.policy.origin) for o in alone.occurrences]
    origins = {o.policy.origin for o in alone.occurrences}
    assert origins == {"marker", "policy", "rule"}, origins
    assert len(alone.occurrences) == 3 * (cores.MIN_FILES + 20) + 1
