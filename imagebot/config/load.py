"""Load and validate a configuration file (YAML; JSON is YAML too).

A bad file raises ConfigError listing *every* bad field by its path, e.g.
``delivery.mode: Input should be 'commit' or 'pull-request' (line 5)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from imagebot.config.patterns import PatternError, compile_pattern
from imagebot.config.schema import Config, NamedPolicy, Repository, Rule
from imagebot.errors import ConfigError, PolicyError
from imagebot.model import IGNORE
from imagebot.policy import compile_spec

R = TypeVar("R", bound=Repository)

DEFAULT_PATH = "imagebot.yaml"
ENV_VAR = "IMAGEBOT_CONFIG"


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    return Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH)


def load(path: str | os.PathLike[str] | None = None) -> Config:
    p = resolve_path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found (use -c FILE or set {ENV_VAR})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read config: {e}") from None
    return load_text(text, str(p), base_dir=p.parent)


#: A configuration is a few kilobytes; anything near this is not one (bounded input, issue #14).
MAX_CONFIG_BYTES = 1 << 20


def load_text(text: str, name: str = "<config>", base_dir: Path | None = None) -> Config:
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{name}: {len(text):,} characters is not a configuration (the limit is {MAX_CONFIG_BYTES:,})")
    fast = _valid_json_config(text)  # a generated JSON config (hundreds of policies): no YAML round trip
    if fast is not None:
        return _relative_to(fast, base_dir) if base_dir is not None else fast
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except RecursionError:
        raise ConfigError(f"{name}: nested too deeply to be a configuration") from None
    except MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        raise ConfigError(f"{where}: not valid YAML: {e.problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: the config must be a mapping with at least 'repository' (or 'repositories')")
    try:
        cfg = Config.model_validate(_plain(data))
    except ValidationError as e:
        problems = [_describe(err, data) for err in e.errors()] + _policy_problems(data) + _rule_problems(data)
        raise ConfigError(f"{name}: {len(problems)} invalid field(s)", problems) from None
    problems = _policy_problems(data, cfg) + _rule_problems(data, cfg)
    if problems:
        raise ConfigError(f"{name}: {len(problems)} invalid field(s)", problems)
    for i, rule in enumerate(cfg.rules):
        rule._line = _line_of(data, ("rules", i))
    for r, entry in enumerate(cfg.repositories):
        for i, rule in enumerate(entry.rules):
            rule._line = _line_of(data, ("repositories", r, "rules", i))
    if base_dir is not None:
        cfg = _relative_to(cfg, base_dir)
    return cfg


def _valid_json_config(text: str) -> Config | None:
    """The config when `text` is a JSON object (JSON is YAML: the same data either way) without
    duplicate keys and valid; else None, and the YAML path below reads it and says what is wrong
    with line numbers."""
    if not text.lstrip().startswith("{"):
        return None

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=unique)
        if not isinstance(data, dict) or data.get("rules"):
            return None  # rules carry their line for later messages: the YAML path records it
        cfg = Config.model_validate(data)
    except (ValueError, ValidationError, RecursionError):
        return None
    return None if _policy_problems(data, cfg) else cfg


def _plain(node: Any) -> Any:
    """ruamel's CommentedMap/Seq -> dict/list (pydantic wants plain values)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest key of `loc` that exists in the ruamel tree."""
    node, line = data, None
    for part in loc:
        try:
            if isinstance(node, dict) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (AttributeError, KeyError, TypeError):
            break
    return line


def _dotted(loc: tuple[Any, ...]) -> str:
    """("repositories", 0, "rules", 2) -> "repositories[0].rules[2]"."""
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


def _describe(err: Any, data: Any) -> str:
    loc = tuple(err["loc"])
    path = _dotted(loc)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    line = _line_of(data, loc)
    return f"{path or '(top)'}: {msg}" + (f" (line {line})" if line else "")


def _relative_to(cfg: Config, base: Path) -> Config:
    """A repository url that is a relative local path is taken relative to the config file."""
    if cfg.repository is not None:
        return cfg.model_copy(update={"repository": _local_url(cfg.repository, base)})
    return cfg.model_copy(update={"repositories": tuple(_local_url(r, base) for r in cfg.repositories)})


def _local_url(repo: R, base: Path) -> R:
    url = repo.url
    if "://" in url or url.startswith(("git@", "/")) or ":" in url.split("/")[0]:
        return repo
    candidate = (base / url).resolve()
    return repo.model_copy(update={"url": str(candidate)}) if candidate.exists() else repo


def _validated(cfg: Config | None, where: tuple[Any, ...]) -> Any:
    """What the schema made of `where` ("policies", "rules", or either under repositories[i]) when
    `cfg` validated, so that a valid file's entries are not validated a second time; else None."""
    if cfg is None:
        return None
    owner: Any = cfg
    if where[0] == "repositories":
        if where[1] >= len(cfg.repositories):
            return None
        owner = cfg.repositories[where[1]]
    return getattr(owner, where[-1])


def _policy_problems(data: Any, cfg: Config | None = None) -> list[str]:
    """Named policies are compiled at load, so a bad one fails now and names its field and
    line - also when other fields are bad, so that one run lists everything to fix. Entries
    the schema rejects are left to the schema's messages. `cfg`: the validated config, whose
    policies are compiled as they are (not validated again from `data`)."""
    places: list[tuple[tuple[Any, ...], Any]] = [(("policies",), data.get("policies"))]
    repos = data.get("repositories")
    if isinstance(repos, list):
        places += [(("repositories", i, "policies"), r.get("policies")) for i, r in enumerate(repos) if isinstance(r, dict)]
    return [p for where, policies in places if isinstance(policies, dict)
            for p in _compile_policies(data, where, policies, _validated(cfg, where))]


def _compile_policies(data: Any, where: tuple[Any, ...], policies: dict[str, Any],
                      validated: dict[str, NamedPolicy] | None = None) -> list[str]:
    problems = []
    for key, raw in policies.items():
        p = validated.get(str(key)) if validated is not None else None
        if p is None:
            try:
                p = NamedPolicy.model_validate(_plain(raw))
            except ValidationError:
                continue
        try:
            compile_spec(p.spec())
        except PolicyError as e:
            line = _line_of(data, (*where, key))
            path = _dotted((*where, key))
            problems.append(f"{path}: {e}" + (f" (line {line})" if line else ""))
    return problems


def _rule_problems(data: Any, cfg: Config | None = None) -> list[str]:
    """Each rule's policy and match patterns compiled at load: a bad one names the rule's field
    and line (entries the schema rejects are left to the schema's messages)."""
    places: list[tuple[tuple[Any, ...], Any]] = [(("rules",), data.get("rules"))]
    repos = data.get("repositories")
    if isinstance(repos, list):
        places += [(("repositories", i, "rules"), r.get("rules")) for i, r in enumerate(repos) if isinstance(r, dict)]
    return [p for where, rules in places if isinstance(rules, list)
            for p in _compile_rules(data, where, rules, _validated(cfg, where))]


def _compile_rules(data: Any, where: tuple[Any, ...], rules: list[Any], validated: tuple[Rule, ...] | None = None) -> list[str]:
    prefix = _dotted(where)
    problems = []
    for i, raw in enumerate(rules):
        if validated is not None and len(validated) == len(rules):
            rule = validated[i]
        else:
            try:
                rule = Rule.model_validate(_plain(raw))
            except ValidationError:
                continue
        for key in ("image", "path", "workload", "namespace", "container"):
            pattern = getattr(rule.match, key)
            if pattern is None:
                continue
            try:
                compile_pattern(pattern, key == "image")
            except PatternError as e:
                line = _line_of(data, (*where, i, "match", key))
                problems.append(f"{prefix}[{i}].match.{key}: {e}" + (f" (line {line})" if line else ""))
        if rule.policy.strip().lower() == IGNORE:
            continue
        try:
            compile_spec(rule.spec())
        except PolicyError as e:
            line = _line_of(data, (*where, i, "policy"))
            problems.append(f"{prefix}[{i}].policy: {e}" + (f" (line {line})" if line else ""))
    return problems
