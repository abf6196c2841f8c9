"""Where registry credentials come from, in the docker way.

Order for a registry host:

1. the registry's entry in imagebot's config: ``provider`` (the workload's cloud identity:
   :mod:`~imagebot.registry.cloud_aws`, :mod:`~imagebot.registry.cloud_gcp`,
   :mod:`~imagebot.registry.cloud_azure`), ``username``/``username_env`` with
   ``password_env``/``password_file`` (e.g. a mounted Secret), or ``credential_helper``;
2. docker ``config.json`` (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``):
   ``credHelpers[host]``, then ``auths[host]`` (base64 ``auth``, ``username``/``password``,
   ``identitytoken``), then ``credsStore``;
3. none: anonymous.

Every secret is registered with :mod:`imagebot.redact` the moment it is read. A
:class:`Credentials` value never shows its secret in ``repr``.

Credentials are looked up again every cycle (:meth:`CredentialStore.forget`), except a cloud
login's, which is kept across cycles until shortly before the token expires (ECR 12 h, GCP 1 h,
ACR refresh tokens 3 h): the clouds are asked once per token lifetime, not once per cycle.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from imagebot import redact
from imagebot.config.schema import RegistrySettings
from imagebot.errors import AuthError
from imagebot.registry.names import DOCKER_HUB_AUTH_KEY, canonical_host, is_docker_hub

log = logging.getLogger(__name__)
HELPER_TIMEOUT = 30.0
#: Stop using a cloud token this long before it expires (at most a quarter of its lifetime).
EXPIRY_MARGIN = 300.0
#: `provider` -> the module whose ``login(host, settings, env) -> Credentials`` logs in. Imported
#: when first used: each needs its cloud's library (the extra of the same name: imagebot[aws]...).
PROVIDERS = {
    "aws": "imagebot.registry.cloud_aws",
    "gcp": "imagebot.registry.cloud_gcp",
    "azure": "imagebot.registry.cloud_azure",
}


@dataclass(frozen=True)
class Credentials:
    """A user name and password, or an identity (refresh) token. `source` says where they came from."""

    source: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)
    #: time.time() after which these must not be used any more (a cloud token); None: no limit known.
    expires_at: float | None = None

    def usable(self, now: float | None = None) -> bool:
        return self.expires_at is None or (time.time() if now is None else now) < self.expires_at

    def __post_init__(self) -> None:
        redact.register(self.password)
        redact.register(self.identity_token)
        if self.username and self.password:
            redact.register(f"{self.username}:{self.password}")  # its base64 is the Basic header


def quiet_loggers(*names: str) -> None:
    """Keep a cloud library's DEBUG records (request and response bodies: STS keys, tokens) out of
    imagebot's log: they are written before imagebot has read, and so registered, the secrets in them."""
    for name in names:
        logging.getLogger(name).setLevel(logging.INFO)


def usable_until(expiry: float | None, now: float | None = None) -> float | None:
    """When to stop using a token that expires at `expiry` (epoch seconds): a margin before it.

    None when the expiry is unknown or already past (a stand-in's fixed date, a skewed clock):
    such a token serves the cycle that fetched it and is not kept.
    """
    now = time.time() if now is None else now
    if expiry is None or expiry <= now:
        return None
    return expiry - min(EXPIRY_MARGIN, (expiry - now) / 4)


def docker_config_path(env: Mapping[str, str]) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``.

    A ``$DOCKER_CONFIG`` holding ``.dockerconfigjson`` and no ``config.json`` is a mounted
    ``kubernetes.io/dockerconfigjson`` Secret (``kubectl create secret docker-registry``): that file.
    """
    if env.get("DOCKER_CONFIG"):
        directory = Path(env["DOCKER_CONFIG"])
        if not (directory / "config.json").exists() and (directory / ".dockerconfigjson").exists():
            return directory / ".dockerconfigjson"
        return directory / "config.json"
    return Path(env.get("HOME") or Path.home()) / ".docker" / "config.json"


def _auth_keys(host: str) -> list[str]:
    """The keys docker may have written for `host` in config.json ``auths``."""
    if is_docker_hub(host):
        return [DOCKER_HUB_AUTH_KEY, "index.docker.io", "docker.io", "registry-1.docker.io", "https://index.docker.io/v1"]
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]


def _helper_server_url(host: str) -> str:
    return DOCKER_HUB_AUTH_KEY if is_docker_hub(host) else host


def run_helper(name: str, host: str, env: Mapping[str, str]) -> Credentials | None:
    """``docker-credential-<name> get`` with the server URL on stdin (the docker protocol)."""
    program = f"docker-credential-{name}"
    try:
        out = subprocess.run(
            [program, "get"],
            input=_helper_server_url(host),
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            env=dict(env),
        )
    except FileNotFoundError:
        raise AuthError(f"registry {host}: credential helper {program} is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise AuthError(f"registry {host}: credential helper {program} did not answer within {HELPER_TIMEOUT:g}s",
                        temporary=True) from None
    if out.returncode != 0:
        message = out.stdout.strip() or out.stderr.strip()
        if "credentials not found" in message.lower():
            return None
        raise AuthError(f"registry {host}: credential helper {program} failed: {redact.redact(message)[:200]}")
    try:
        data = json.loads(out.stdout)
        username, secret = data.get("Username") or None, data.get("Secret") or None
    except (ValueError, AttributeError):
        raise AuthError(f"registry {host}: credential helper {program} printed no JSON object") from None
    if not secret:
        return None
    source = f"credential helper {program}"
    if username == "<token>":  # docker's convention for an identity token
        return Credentials(source, identity_token=secret)
    return Credentials(source, username=username, password=secret)


class CredentialStore:
    """Finds credentials for a host once and remembers them (thread-safe)."""

    def __init__(self, settings: Mapping[str, RegistrySettings], env: Mapping[str, str]):
        self._settings = settings
        self._env = env
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self._found: dict[str, Credentials | None] = {}
        self._logins: dict[str, Credentials] = {}  # cloud logins, kept across cycles while usable

    def _known(self, host: str) -> tuple[bool, Credentials | None]:
        if host in self._found:
            creds = self._found[host]
            if creds is None or creds.usable():
                return True, creds
            del self._found[host]
        return False, None

    def get(self, host: str) -> Credentials | None:
        host = canonical_host(host)
        with self._lock:
            known, creds = self._known(host)
            if known:
                return creds
            host_lock = self._host_locks.setdefault(host, threading.Lock())
        with host_lock:  # a slow credential helper holds up its own registry only
            with self._lock:
                known, creds = self._known(host)
                if known:
                    return creds
            creds = self._lookup(host)
            log.debug("registry %s: credentials %s", host, f"from {creds.source}" if creds else "none (anonymous)")
            with self._lock:
                self._found[host] = creds
            return creds

    def forget(self) -> None:
        """Read the sources again next time (a rotated Secret, a refreshed helper token)."""
        with self._lock:
            self._found.clear()

    def _lookup(self, host: str) -> Credentials | None:
        s = self._settings.get(host)
        if s is not None:
            creds = self._from_settings(host, s)
            if creds is not None:
                return creds
        return self._from_docker_config(host)

    def _cloud_login(self, host: str, provider: str, s: RegistrySettings) -> Credentials:
        with self._lock:
            kept = self._logins.get(host)
        if kept is not None and kept.usable():
            return kept
        try:
            module = importlib.import_module(PROVIDERS[provider])
        except ImportError as e:
            raise AuthError(f"registry {host}: provider: {provider} needs {e.name or 'its cloud library'}: "
                            f"pip install 'imagebot[{provider}]' (the container image has it)") from None
        creds: Credentials = module.login(host, s, self._env)
        log.info("registry %s: logged in with the %s workload identity (%s)%s", host, provider, creds.source,
                 f", usable for {creds.expires_at - time.time():.0f}s" if creds.expires_at else "")
        if creds.expires_at is not None:
            with self._lock:
                self._logins[host] = creds
        return creds

    def _from_settings(self, host: str, s: RegistrySettings) -> Credentials | None:
        if s.provider:
            return self._cloud_login(host, s.provider, s)
        if s.credential_helper:
            return run_helper(s.credential_helper, host, self._env)
        password = None
        if s.password_env:
            password = self._env.get(s.password_env)
            if password is None:
                raise AuthError(f"registry {host}: password_env {s.password_env} is not set")
            source = f"env {s.password_env}"
        elif s.password_file:
            try:
                password = Path(s.password_file).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise AuthError(f"registry {host}: cannot read password_file {s.password_file}: {e.strerror}") from None
            source = f"file {s.password_file}"
        if password is None:
            return None
        redact.register(password)
        username = s.username
        if s.username_env:
            username = self._env.get(s.username_env)
            if username is None:
                raise AuthError(f"registry {host}: username_env {s.username_env} is not set")
        if not username:
            raise AuthError(f"registry {host}: a password is configured ({source}) but no username / username_env")
        return Credentials(source, username=username, password=password)

    def _from_docker_config(self, host: str) -> Credentials | None:
        path = docker_config_path(self._env)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.warning("ignoring docker config %s: %s", path, e)
            return None
        if not isinstance(data, dict):
            return None
        helpers = data.get("credHelpers") or {}
        for key in _auth_keys(host):
            if isinstance(helpers, dict) and helpers.get(key):
                return run_helper(str(helpers[key]), host, self._env)
        auths = data.get("auths") or {}
        for key in _auth_keys(host):
            entry = auths.get(key) if isinstance(auths, dict) else None
            if isinstance(entry, dict):
                creds = self._from_auth_entry(host, entry, f"docker config {path}")
                if creds is not None:
                    return creds
        if data.get("credsStore"):
            return run_helper(str(data["credsStore"]), host, self._env)
        return None

    @staticmethod
    def _from_auth_entry(host: str, entry: Mapping[str, object], source: str) -> Credentials | None:
        auth = entry.get("auth")
        username = entry.get("username") if isinstance(entry.get("username"), str) else None
        password = entry.get("password") if isinstance(entry.get("password"), str) else None
        if isinstance(auth, str) and auth:
            redact.register(auth)
            try:
                decoded = base64.b64decode(auth, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise AuthError(f"registry {host}: {source}: the 'auth' entry is not base64 of user:password") from None
            username, sep, password = decoded.partition(":")
            if not sep:
                raise AuthError(f"registry {host}: {source}: the 'auth' entry is not base64 of user:password")
        token = entry.get("identitytoken")
        if isinstance(token, str) and token:
            return Credentials(source, username=username, identity_token=token)
        if username and password:
            return Credentials(source, username=username, password=password)
        return None


def environment(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(os.environ) if env is None else env
