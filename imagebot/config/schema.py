"""The configuration file's schema (pydantic). `config/imagebot.schema.json` is generated from it.

Unknown keys are errors (a typo must not silently become a default).
"""

# No `from __future__ import annotations` here: pydantic would evaluate each field's annotation string
# when it builds the models, at every start-up (issue #21).
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from imagebot.config.durations import parse_duration
from imagebot.config.notifications import NotificationTarget
from imagebot.config.promotions import Promotion
from imagebot.model import PolicySpec
from imagebot.model import REFERENCE_KINDS

def _bounded(text: str, low: float, high: float, name: str) -> float:
    seconds = parse_duration(text)
    if not low <= seconds <= high:
        raise ValueError(f"{name} {text!r} is out of range: between {low:g}s and {high:g}s")
    return seconds


_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(?:/|$)")


def check_branch_name(name: str) -> str:
    """Raise ValueError unless `name` is a branch name by git's rules (``git check-ref-format --branch``)."""
    problem = None
    if not name:
        problem = "it is empty"
    elif name == "@" or name == "HEAD":
        problem = f"{name!r} is not a branch"
    elif name.startswith(("-", "/", ".")) or name.endswith(("/", ".")):
        problem = "it may not start with '-', '/' or '.', nor end with '/' or '.'"
    elif _BAD_REF.search(name):
        problem = "it holds a character or sequence git forbids (space, ~ ^ : ? * [ \\, '..', '@{', '//', a '/.' or '.lock' component)"
    if problem:
        raise ValueError(f"{name!r} is not a valid branch name: {problem}")
    return name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Repository(_Model):
    url: str = Field(description="Any git URL (https, ssh, file) or a local path to a repository / bare repository.")
    branch: str = Field("main", description="The branch imagebot reads manifests from (and the base of pull requests).")

    @field_validator("branch")
    @classmethod
    def _branch(cls, v: str) -> str:
        return check_branch_name(v)
    paths: tuple[str, ...] = Field(
        (), description="Folders or files to scan, relative to the repository root. Default: the whole repository."
    )
    exclude: tuple[str, ...] = Field((), description="Glob patterns (repository-relative) of files never to touch.")

    @field_validator("paths", "exclude")
    @classmethod
    def _relative(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            if p.startswith("/") or ".." in p.split("/"):
                raise ValueError(f"{p!r} must be relative to the repository root, without '..'")
        return v


class GitAuth(_Model):
    token_env: str | None = Field(None, description="Env var holding an HTTPS token (never written to .git/config).")
    token_file: str | None = Field(None, description="File holding an HTTPS token (e.g. a mounted Secret).")
    username: str = Field(
        "x-access-token", description="HTTPS user name sent with the token. Default: x-access-token (GitHub), oauth2 (GitLab, Gitea)."
    )
    ssh_key_file: str | None = Field(None, description="Private key for SSH remotes.")
    known_hosts_file: str | None = Field(None, description="known_hosts for SSH remotes (host keys are checked).")


class Author(_Model):
    name: str = "imagebot"
    email: str = "imagebot@users.noreply.github.com"


class GitHubApp(_Model):
    """Authenticate as a GitHub App installation: its token (1 h, renewed by itself) is used for the
    API and as the Git password (user x-access-token). See docs/credentials.md."""

    app_id: int = Field(gt=0, description="The App's ID (its settings page).")
    installation_id: int = Field(gt=0, description="The installation's ID (in the installation's URL).")
    private_key_file: str | None = Field(None, description="The App's private key (PEM), e.g. a mounted Secret.")
    private_key_env: str | None = Field(None, description="Env var holding the App's private key (PEM).")

    @model_validator(mode="after")
    def _one_key(self) -> "GitHubApp":
        if bool(self.private_key_file) == bool(self.private_key_env):
            raise ValueError("set one of private_key_file or private_key_env")
        return self
#: Per-forge defaults: the API token's env var and the user name git sends with that token.
FORGE_TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "gitea": "GITEA_TOKEN"}
FORGE_GIT_USERNAME = {"github": "x-access-token", "gitlab": "oauth2", "gitea": "oauth2"}


class PullRequestSettings(_Model):
    provider: Literal["github", "gitlab", "gitea"] = Field(
        "github", description="The forge: github (also GitHub Enterprise), gitlab (gitlab.com or self-hosted), gitea (also Forgejo)."
    )
    api_url: str | None = Field(
        None,
        description="The forge's API root. Default: https://api.github.com for github.com, else derived from repository.url: "
        "https://HOST/api/v3 (GitHub Enterprise), https://HOST/api/v4 (GitLab), https://HOST/api/v1 (Gitea/Forgejo).",
    )
    repository: str | None = Field(
        None, description="The project on the forge (owner/name; GitLab: group/subgroup/project); default: derived from repository.url."
    )
    token_env: str | None = Field(None, description="Env var holding the API token. Default: GITHUB_TOKEN / GITLAB_TOKEN / GITEA_TOKEN by provider.")
    token_file: str | None = Field(None, description="File holding the API token.")
    app: GitHubApp | None = Field(None, description="A GitHub App installation instead of a token (token_env/token_file unused).")
    grouping: Literal["per-image", "per-file", "all"] = "per-image"
    branch_prefix: str = "imagebot/"
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = Field((), description="User names asked to review (GitLab: project members).")
    team_reviewers: tuple[str, ...] = Field((), description="Team slugs asked to review (GitHub, Gitea; GitLab has none).")
    draft: bool = False
    throttle: bool = Field(True, description="PyGithub's write throttling (seconds between writes); keep on for github.com.")
    title_template: str | None = Field(
        None, description="Pull-request title template (see docs/forges/README.md, 'Templates'). Default: '{summary}'."
    )
    body_template: str | None = Field(
        None, description="Pull-request body template (see docs/forges/README.md, 'Templates'). Default: intro, table, why, closing note."
    )

    @model_validator(mode="before")
    @classmethod
    def _provider_defaults(cls, data: object) -> object:
        if isinstance(data, dict) and "token_env" not in data:
            data = {**data, "token_env": FORGE_TOKEN_ENV.get(str(data.get("provider", "github")), "GITHUB_TOKEN")}
        return data


class Delivery(_Model):
    mode: Literal["commit", "pull-request"] = "commit"
    branch: str | None = Field(None, description="commit mode: the branch commits go to. Default: repository.branch.")
    author: Author = Author()
    message_template: str | None = Field(
        None, description="Commit message template (see README, 'Commit messages'). Default: one line per change."
    )
    max_push_attempts: int = Field(5, ge=1, le=50, description="Fetch-rebase-push attempts when the remote moved.")
    git_timeout: str = Field(
        "2m", description="The longest any one git command may run (a silent remote, a sleeping hook): then it is "
        "killed and the cycle reports a temporary error. Between 5s and 1h.")
    sign: Literal["none", "gpg", "ssh"] = "none"
    signing_key: str | None = None
    message_prefix: str = Field(
        "", description="Prefix of the summary line of commit messages and pull-request titles, e.g. 'chore(deps): '."
    )
    pull_request: PullRequestSettings = PullRequestSettings()
    git: GitAuth = GitAuth()

    @model_validator(mode="before")
    @classmethod
    def _git_username(cls, data: object) -> object:
        """The git user name that goes with a forge token, unless set."""
        if not isinstance(data, dict):
            return data
        pr = data.get("pull_request")
        provider = pr.provider if isinstance(pr, PullRequestSettings) else pr.get("provider", "github") if isinstance(pr, dict) else "github"
        git = data.get("git", {})
        if isinstance(git, dict) and "username" not in git:
            return {**data, "git": {**git, "username": FORGE_GIT_USERNAME.get(provider, "x-access-token")}}
        return data

    @field_validator("git_timeout")
    @classmethod
    def _git_timeout(cls, v: str) -> str:
        _bounded(v, 5, 3600, "git_timeout")
        return v

    @field_validator("branch")
    @classmethod
    def _branch(cls, v: str | None) -> str | None:
        if v is not None:
            check_branch_name(v)
        return v


def _endpoint(value: str, key: str) -> str:
    """`host[:port][/namespace]` as registries.conf writes a location: no scheme (plain HTTP is
    `insecure: true` on the host's own entry), no trailing slash."""
    if "://" in value:
        scheme, _, rest = value.partition("://")
        plain = " (for plain HTTP set insecure: true on that host's registries entry)" if scheme.lower() == "http" else ""
        raise ValueError(f"{key}: {value!r}: write host[:port][/namespace] without the scheme, e.g. {rest!r}{plain}")
    value = value.strip().rstrip("/")
    host = value.split("/", 1)[0]
    if not host or " " in value or any(not part for part in value.split("/")):
        raise ValueError(f"{key}: {value!r} is not host[:port][/namespace]")
    return value


class RateLimit(_Model):
    requests_per_second: float = Field(10.0, gt=0, description="Sustained request rate to this registry.")
    burst: int = Field(20, ge=1)
    concurrency: int = Field(4, ge=1, le=64, description="Requests in flight at once.")


class RegistrySettings(_Model):
    host: str = Field(description="Registry host[:port] as written in image references, e.g. ghcr.io, 127.0.0.1:5000, docker.io.")
    insecure: bool = Field(False, description="Plain HTTP instead of HTTPS.")
    ca_file: str | None = Field(None, description="A CA bundle to verify this registry's TLS certificate.")
    tls_verify: bool = True
    username: str | None = None
    username_env: str | None = None
    password_env: str | None = Field(None, description="Env var holding the password or token.")
    password_file: str | None = Field(None, description="File holding the password or token (e.g. a mounted Secret).")
    credential_helper: str | None = Field(None, description="Run docker-credential-<name> for this registry.")
    provider: Literal["aws", "gcp", "azure"] | None = Field(
        None,
        description="Log in with the workload's cloud identity (like Flux's `provider`): aws = ECR "
        "GetAuthorizationToken (IRSA / web identity, boto3), gcp = an access token from the metadata server "
        "(GKE workload identity, google-auth), azure = an AAD token exchanged for an ACR refresh token "
        "(AKS workload identity, azure-identity). See docs/credentials.md.",
    )
    rate_limit: RateLimit | None = Field(None, description="Default: 10 req/s, 4 at once (Docker Hub: stricter).")
    platforms: tuple[str, ...] = Field(("linux/amd64",), description="Platforms a chosen multi-arch tag must cover.")
    max_tag_pages: int = Field(100, ge=1, description="Give up (skip with a reason) past this many tag-list pages.")
    tag_digest_ttl: float = Field(
        3600.0, ge=0,
        description="Seconds a tag's remembered digest is trusted by the platform and label checks without asking "
        "the registry again (0: a HEAD every cycle). What a digest provides is remembered for good; a digest "
        "written into a file is always asked for.",
    )
    timeout: float = Field(15.0, gt=0, le=300, description="Seconds per request, all of it: connecting, waiting, reading the answer.")
    location: str | None = Field(
        None,
        description="host[:port][/namespace] where this registry's API (or Helm repository) really is, when not at "
        "`host` (registries.conf `location`, containerd's `server`): `127.0.0.1:5000/ghcr.io` serves `ghcr.io/org/app` "
        "as `127.0.0.1:5000/ghcr.io/org/app`. This entry's credentials and TLS settings are used there.",
    )
    mirrors: tuple[str, ...] = Field(
        (),
        description="Mirrors or pull-through caches (host[:port][/namespace], e.g. mirror.gcr.io or "
        "harbor.example.com/dockerhub-proxy) to list tags and resolve digests through, tried in order before the "
        "registry itself (containerd hosts.toml `[host.…]`, registries.conf `[[registry.mirror]]`). Each mirror "
        "host uses its own registries entry for credentials and TLS.",
    )
    mirrors_only: bool = Field(
        False, description="Never ask the registry itself, only its mirrors (when every mirror fails, the image is skipped)."
    )
    mirror_of: str | None = Field(
        None,
        description="This host is a mirror of another registry, written in files instead of it: `mirror.gcr.io` with "
        "mirror_of `docker.io` makes `mirror.gcr.io/library/nginx` the image docker.io/library/nginx (listed through "
        "docker.io's location and mirrors; the file keeps the mirror's name). A mirror that keeps the images under a "
        "namespace also sets mirror_path (public.ecr.aws: mirror_of docker.io, mirror_path docker).",
    )
    mirror_path: str | None = Field(
        None,
        description="With mirror_of: the namespace under which this host mirrors, e.g. `docker` for public.ecr.aws "
        "(public.ecr.aws/docker/library/redis is docker.io/library/redis). Names outside it are this host's own.",
    )

    @field_validator("location")
    @classmethod
    def _location(cls, v: str | None) -> str | None:
        return None if v is None else _endpoint(v, "location")

    @field_validator("mirrors")
    @classmethod
    def _mirrors(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_endpoint(m, "mirrors") for m in v)

    @field_validator("mirror_of")
    @classmethod
    def _mirror_of(cls, v: str | None) -> str | None:
        if v is not None and ("://" in v or "/" in v or not v.strip()):
            raise ValueError(f"{v!r}: mirror_of names a registry host[:port], e.g. docker.io (put a namespace in mirror_path)")
        return v

    @field_validator("mirror_path")
    @classmethod
    def _mirror_path(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip("/") or "://" in v):
            raise ValueError(f"{v!r}: mirror_path is a namespace inside the mirror, e.g. docker")
        return None if v is None else v.strip("/")

    @model_validator(mode="after")
    def _mirror_settings(self) -> "RegistrySettings":
        if self.mirror_path and not self.mirror_of:
            raise ValueError("mirror_path needs mirror_of (the registry this host mirrors)")
        if self.mirrors_only and not self.mirrors:
            raise ValueError("mirrors_only needs at least one entry in mirrors")
        return self

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        # Settings are matched to images by host; a URL would silently match none of them.
        scheme, sep, rest = v.partition("://")
        if sep:
            plain = " (for plain HTTP add insecure: true)" if scheme.lower() == "http" else ""
            raise ValueError(f"{v!r}: write the host[:port] without the scheme, e.g. {rest.split('/')[0]!r}{plain}")
        if "/" in v:
            raise ValueError(f"{v!r}: write the host[:port] without a path, e.g. {v.split('/')[0]!r}")
        return v

    @model_validator(mode="after")
    def _one_credential_source(self) -> "RegistrySettings":
        if self.provider:
            others = [k for k in ("username", "username_env", "password_env", "password_file", "credential_helper")
                      if getattr(self, k)]
            if others:
                raise ValueError(f"provider: {self.provider} logs in by itself; drop {', '.join(others)}")
        return self

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            if not re.fullmatch(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?", p):
                raise ValueError(f"{p!r} is not a platform: use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8")
        return v


MIN_AGE = ("A tag whose image was built (its config's `created` time) less than this long ago is not yet a candidate "
           "(e.g. 1h, 3d): held, and chosen once old enough.")


def _optional_duration(v: str | None) -> str | None:
    if v is not None:
        parse_duration(v)
    return v


class _PolicyOptions(_Model):
    """A policy string and its options, as named policies and rules write them (one definition)."""

    policy: str = Field(description='e.g. "semver:^1.4", "minor", "digest"')
    tag_filter: str | None = Field(None, alias="tag-filter")
    extract: str | None = None
    exclude: str | None = None
    prerelease: bool = False
    pin_digest: bool = Field(False, alias="pin-digest")
    min_age: str | None = Field(None, alias="min-age", description=MIN_AGE)

    @field_validator("min_age")
    @classmethod
    def _min_age(cls, v: str | None) -> str | None:
        return _optional_duration(v)

    def _spec(self, source: str, origin: str) -> PolicySpec:
        return PolicySpec(self.policy, self.tag_filter, self.extract, self.exclude, self.prerelease, self.pin_digest, source,
                          origin=origin, min_age=self.min_age)


class NamedPolicy(_PolicyOptions):
    """A policy referred to by inline markers (`# {"$imagebot": "NAME"}`) and Flux markers."""

    image: str = Field(description="The image the policy is for, e.g. ghcr.io/org/app")

    def spec(self, source: str = "") -> PolicySpec:
        """This policy as the PolicySpec every stage after config reads."""
        return self._spec(source, "policy")


ReferenceKind = Literal[REFERENCE_KINDS]  # type: ignore[valid-type]


class RuleMatch(_Model):
    """What a rule applies to; every key is optional, all given keys must match.

    `image`, `path`, `workload`, `namespace` and `container` are shell globs (``*``, ``?``,
    ``[abc]``; ``*`` also crosses ``/``), or regular expressions written between slashes
    (``/^ghcr\\.io/(a|b)/.*$/``, searched, as Renovate's ``matchPackageNames``).
    """

    image: str | None = Field(None, description="The image's normalised name: ghcr.io/org/app, docker.io/library/postgres "
                              "(a name without wildcards is normalised too: postgres = docker.io/library/postgres).")
    path: str | None = Field(None, description="The file's path, relative to the repository root: apps/*/values.yaml.")
    kind: ReferenceKind | tuple[ReferenceKind, ...] | None = Field(
        None, description="Reference kind(s): container (a workload's container), image (a full reference in any other "
        "field), image-map (Helm values repository/tag map), kustomize (kustomization images entry), chart (a Helm chart version), artifact (another OCI artifact).")
    workload: str | None = Field(None, description="The workload of a container reference as Kind/name: Deployment/web, StatefulSet/*.")
    namespace: str | None = Field(None, description="The workload's metadata.namespace as written.")
    container: str | None = Field(None, description="The container's name.")


class Rule(_PolicyOptions):
    """One policy rule: the first rule whose `match` fits a reference governs it, unless an
    annotation or a marker on the reference says otherwise. `policy` may also be "ignore": the
    matched references are left alone."""

    match: RuleMatch = Field(RuleMatch(), description="What the rule applies to; empty: every reference.")
    _line: int | None = PrivateAttr(None)

    @property
    def line(self) -> int | None:
        """The rule's line in the config file (set by the loader)."""
        return self._line

    def spec(self, source: str = "") -> PolicySpec:
        return self._spec(source, "rule")


_LANE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


def lane_name_from_url(url: str) -> str:
    """The default name of a repository's lane: its URL's last path part without `.git`, as a
    lower-case DNS label (`https://github.com/org/Apps.git` -> `apps`)."""
    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    tail = tail[:-4] if tail.endswith(".git") else tail
    return re.sub(r"[^a-z0-9]+", "-", tail.lower()).strip("-")[:40].strip("-") or "repository"


class RepositoryEntry(Repository):
    """One item of `repositories:`: a repository plus what it overrides of the top-level defaults."""

    name: str | None = Field(
        None, description="The lane's name (metrics, /status, --repository, its Lease). Lower-case letters, digits "
        "and '-', at most 40. Default: derived from the URL (the last path part without .git).")
    delivery: Delivery | None = Field(None, description="Merged over the top-level delivery (deep, key by key).")
    policies: dict[str, NamedPolicy] = Field(
        default_factory=dict, description="Named policies of this repository; they win over top-level ones of the same name.")
    rules: tuple[Rule, ...] = Field(
        (), description="Policy rules of this repository, tried before the top-level rules (the first match governs).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _LANE_NAME.match(v):
            raise ValueError(f"{v!r}: use lower-case letters, digits and '-' (at most 40, not at either end)")
        if v == "members":  # <lease_name>-members is the replicas' membership Lease
            raise ValueError("'members' is reserved (the replicas' membership Lease); choose another name")
        return v

    @property
    def lane_name(self) -> str:
        return self.name or lane_name_from_url(self.url)


class FleetSettings(_Model):
    """How the lanes (one per repository) of one round run."""

    concurrency: int = Field(4, ge=1, le=64, description="Lanes run at once in a round.")
    lane_deadline: str = Field(
        "10m", description="A round waits at most this long for one lane; a lane past it is reported as timed out "
        "(its work goes on in the background and the lane is skipped until it ends), the others are not held up.")

    @field_validator("lane_deadline")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class LeaderElection(_Model):
    """Only the replica holding a coordination.k8s.io/v1 Lease writes. Off when not in a cluster."""

    enabled: bool = Field(True, description="Elect a leader when running in a cluster (ignored outside one).")
    lease_name: str = "imagebot"
    namespace: str | None = Field(None, description="Lease namespace. Default: the pod's own namespace.")
    lease_duration: str = Field("15s", description="How long a lease is valid without renewal; a new leader waits this long.")
    renew_deadline: str = Field("10s", description="The leader steps down when it could not renew for this long (< lease_duration).")
    retry_period: str = Field("2s", description="How often candidates try to acquire and the leader renews (< renew_deadline).")

    @field_validator("lease_duration", "renew_deadline", "retry_period")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @model_validator(mode="after")
    def _ordered(self) -> "LeaderElection":
        if not parse_duration(self.retry_period) < parse_duration(self.renew_deadline) < parse_duration(self.lease_duration):
            raise ValueError("need retry_period < renew_deadline < lease_duration")
        return self


class Webhooks(_Model):
    token_env: str = Field("IMAGEBOT_WEBHOOK_TOKEN", description="Env var holding the shared webhook secret.")
    token_file: str | None = Field(None, description="File holding the shared webhook secret (wins over token_env).")
    rate_limit: float = Field(5.0, gt=0, description="Webhook requests per second accepted (sustained); more get 429.")
    burst: int = Field(20, ge=1)
    debounce: str = Field("100ms", description="Quiet time gathering pushes into one targeted cycle.")
    leading: bool = Field(
        True,
        description="The first push after a quiet spell starts its cycle at once; pushes following it within "
        "`debounce` are gathered into the next cycle. false: every cycle waits `debounce` of quiet.",
    )
    max_delay: str = Field("5s", description="A steady stream of pushes triggers a cycle at least this often.")
    unauthenticated_rate_limit: float = Field(
        1.0, gt=0, description="Requests per second that fail authentication answered 401 (sustained); more get 429. "
        "Counted apart from `rate_limit`: a flood of unauthenticated requests never spends the signed webhooks' budget.")
    unauthenticated_burst: int = Field(10, ge=1)
    replay_window: str = Field(
        "5m", description="A `generic` webhook signed with X-Imagebot-Timestamp is accepted this long after its "
        "timestamp, and the same signature only once.")

    @field_validator("debounce", "max_delay", "replay_window")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class HttpSettings(_Model):
    """The agent's HTTP server (waitress): bounded worker threads, idle connections closed."""

    threads: int = Field(8, ge=1, le=64, description="Worker threads answering requests (a fixed pool).")
    connection_limit: int = Field(
        4096, ge=16, description="Open connections at most; beyond it new ones wait in the listen backlog.")
    idle_timeout: int = Field(
        30, ge=1, description="Seconds a connection may stay idle or half-sent before it is closed.")


class AgentSettings(_Model):
    """`imagebot run` without --once: the in-cluster agent."""

    listen: str = Field("0.0.0.0:8080", description="HOST:PORT for /healthz, /readyz, /metrics and /hooks/<kind>.")
    webhooks_listen: str | None = Field(
        None, description="HOST:PORT of a second listener that serves only POST /hooks/<kind>, the replicas' "
        "/internal/push and /healthz: expose it to registries (Ingress) and keep `listen` (/metrics, /status) internal.")
    jitter: float = Field(0.1, ge=0, le=0.5, description="Each interval is stretched or shrunk by up to this fraction.")
    unready_after: int = Field(3, ge=1, description="/readyz fails once cycles have failed for this many intervals.")
    stuck_after: int = Field(
        2, ge=1, le=10, description="/healthz fails (and the Lease is no longer renewed) once one cycle has run "
        "for this many cycle_timeouts: the worker is stuck, a restart or the standby takes over.")
    leader_election: LeaderElection = LeaderElection()
    webhooks: Webhooks = Webhooks()
    http: HttpSettings = HttpSettings()
    drift_interval: str | None = Field("10m", description="How often to compare Git with the cluster; null: never.")
    events: bool = Field(True, description="Post Kubernetes Events on workloads (in a cluster).")
    event_interval: str = Field("10m", description="The same Event (object, reason, message) at most once per this.")

    @field_validator("drift_interval", "event_interval")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v


class Config(_Model):
    repository: Repository | None = Field(None, description="The one repository to update (or use `repositories:`).")
    repositories: tuple[RepositoryEntry, ...] = Field(
        (), description="Several repositories, each a lane with its own workspace, delivery and write gate; the "
        "top-level delivery, registries and policies are the defaults each inherits. Use this or `repository:`.")
    fleet: FleetSettings = FleetSettings()
    delivery: Delivery = Delivery()
    registries: tuple[RegistrySettings, ...] = ()
    only_listed_registries: bool = Field(
        False, description="Contact only the registries listed under `registries`; an image on any other host is "
        "skipped with a problem. Default (false): any registry a manifest names, loopback included.")
    policies: dict[str, NamedPolicy] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = Field(
        (), description="Policy rules, in order: the first whose match fits a reference governs it (an annotation or "
        "marker on the reference wins). No rule, annotation or marker: the reference is left alone.")
    interval: str = Field("5m", description="Agent poll interval (a duration: 30s, 5m, 1h); at least 10s.")
    cycle_timeout: str = Field(
        "15m", description="The longest one cycle may take; past it the cycle is abandoned before its next step "
        "(nothing half-pushed) and reported as failed. Between 30s and 6h.")
    cache_dir: str | None = Field(None, description="Clones, tag lists and what earlier runs worked out (manifests' platforms, discover's findings, policy decisions, proven edits); keep it between CI jobs. Default: $XDG_CACHE_HOME/imagebot.")
    agent: AgentSettings = AgentSettings()
    notifications: tuple[NotificationTarget, ...] = Field(
        (), description="Where to tell the team what changed and what is stuck (Slack, Teams, Discord, Google Chat, "
        "Alertmanager, a signed JSON webhook). See docs/notifications.md.")
    promotions: tuple[Promotion, ...] = Field(
        (), description="Staged promotion: propose the exact tag@digest staging runs to production once it has soaked, "
        "passed its checks and a window is open. See docs/promotion.md.")
    compat: tuple[Literal["argocd-image-updater", "keel"], ...] = Field(
        (),
        description="Also read other tools' configuration as it is: Argo CD Image Updater annotations on Argo CD "
        "Applications, Keel's keel.sh/policy on workloads (see docs/migration/).",
    )

    @field_validator("interval")
    @classmethod
    def _duration(cls, v: str) -> str:
        _bounded(v, 10, 7 * 86400, "interval")
        return v

    @field_validator("cycle_timeout")
    @classmethod
    def _cycle_timeout(cls, v: str) -> str:
        _bounded(v, 30, 6 * 3600, "cycle_timeout")
        return v

    @property
    def cycle_timeout_seconds(self) -> float:
        return parse_duration(self.cycle_timeout)

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)

    @property
    def delivery_branch(self) -> str:
        assert self.repository is not None, "a lane's config (imagebot.lanes) has its repository"
        return self.delivery.branch or self.repository.branch

    @model_validator(mode="before")
    @classmethod
    def _inherit_delivery(cls, data: object) -> object:
        """Each `repositories[].delivery` is merged over the top-level `delivery`, key by key."""
        if not isinstance(data, dict) or not isinstance(data.get("repositories"), list):
            return data
        base = data.get("delivery") if isinstance(data.get("delivery"), dict) else {}
        items = []
        for item in data["repositories"]:
            if isinstance(item, dict) and isinstance(item.get("delivery"), dict):
                item = {**item, "delivery": _deep_merge(base, item["delivery"])}
            items.append(item)
        return {**data, "repositories": items}

    @model_validator(mode="after")
    def _one_form(self) -> "Config":
        if (self.repository is None) == (not self.repositories):
            raise ValueError("give either `repository:` (one repository) or `repositories:` (a list), not both or neither")
        seen: dict[str, str] = {}
        for r in self.repositories:
            name = r.lane_name
            if name == "members":
                raise ValueError(f"repositories: {r.url!r} would be named 'members', which is reserved: give it a `name:`")
            if name in seen:
                how = "" if r.name else " (derived from the URL: give each a distinct `name:`)"
                raise ValueError(f"repositories: the name {name!r} is used twice{how}")
            seen[name] = r.url
        return self

    @model_validator(mode="after")
    def _unique_registries(self) -> "Config":
        seen: set[str] = set()
        for r in self.registries:
            if r.host in seen:
                raise ValueError(f"registry {r.host!r} is listed twice")
            seen.add(r.host)
        return self

    @model_validator(mode="after")
    def _unique_promotions(self) -> "Config":
        names = [p.name for p in self.promotions]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"promotion {name!r} is listed twice")
        if self.promotions and self.repository is None:
            raise ValueError("promotions: need the single `repository:` form for now (one repository holding both "
                             "environments); with `repositories:` they are not supported yet")
        for p in self.promotions:
            if self.repository is not None and p.to.branch is not None and p.to.branch == self.repository.branch:
                raise ValueError(f"promotion {p.name!r}: to.branch {p.to.branch!r} is repository.branch, where the policies write; "
                                 "set repository.branch to the staging branch (see docs/promotion.md, 'an environment per branch')")
        return self

    def registry(self, host: str) -> RegistrySettings | None:
        for r in self.registries:
            if r.host == host or (host == "docker.io" and r.host in ("index.docker.io", "registry-1.docker.io")):
                return r
        return None


def _deep_merge(base: dict[str, object], over: dict[str, object]) -> dict[str, object]:
    out = dict(base)
    for k, v in over.items():
        old = out.get(k)
        out[k] = _deep_merge(old, v) if isinstance(old, dict) and isinstance(v, dict) else v
    return out
