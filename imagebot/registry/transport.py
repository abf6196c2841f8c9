"""One registry host: HTTP(S) session, auth handshake, budget, retries, and the breaker.

Every request to a registry goes through :meth:`Registry.request`, which

* waits for a concurrency slot and a rate token (:mod:`imagebot.registry.budget`);
* sends credentials preemptively once the registry is known to need them (a cached bearer
  token for the scope, or Basic), otherwise answers the 401 challenge and sends again;
* retries 5xx, 429, timeouts and connection resets with exponential, jittered, bounded waits
  (tenacity), honouring ``Retry-After``;
* reads every answer within one deadline for the whole request (``timeout``: connecting,
  headers and body together, so a registry dripping a byte at a time cannot stretch it) and
  up to :data:`MAX_RESPONSE_BYTES` (a larger answer is refused unread);
* follows redirects (a blob on a CDN) itself, at most :data:`MAX_REDIRECTS`, and sends the
  Authorization header to no other host than the one that asked for it;
* turns every failure into a typed :class:`~imagebot.errors.RegistryError` /
  :class:`~imagebot.errors.AuthError` that names the registry and what was being done, and
  says whether a retry can help.

A registry API request goes through requests' :class:`~requests.adapters.HTTPAdapter` - its
urllib3 pools, TLS settings and proxy managers - but not through requests' Session and Response:
their per-request work (preparing the request, merging settings, hooks, cookies, building a
Response) was half of imagebot's CPU per tag listing, and a warm `plan` is mostly tag listings.
The environment's proxy and CA-bundle settings are still requests' own answer
(``merge_environment_settings``), read once per host. Token requests (one per scope and cycle)
use the Session as before. Cookies an answer sets (a load balancer's sticky session) are kept in
the Session's jar and sent back by requests' rules, as the Session would.
"""

from __future__ import annotations

import base64
import email.utils
import ipaddress
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import tenacity
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar, get_cookie_header
from requests.utils import parse_header_links

from imagebot import __version__
from imagebot.config.schema import RegistrySettings
from imagebot.deadline import NO_DEADLINE, Deadline
from imagebot.errors import AuthError, RegistryError
from imagebot.registry.auth import Challenge, TokenCache, parse_challenges, pull_scope, token_from_response
from imagebot.registry.budget import Breaker, Budget, default_rate
from imagebot.registry.credentials import Credentials, CredentialStore, docker_config_path
from imagebot.registry.names import api_host, canonical_host
from imagebot.registry.stats import RequestStats

log = logging.getLogger(__name__)
USER_AGENT = f"imagebot/{__version__}"
T = TypeVar("T")
R = TypeVar("R", "Answer", requests.Response)
#: Bounded input: the largest answer read from a registry (a tag-list page, a manifest, a config
#: blob, a token). Real ones are kilobytes; a page of 100,000 tags is about 3 MB.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_CHUNK = 64 * 1024
#: Redirects followed for one request (requests allows 30; a registry needs one, to a CDN).
MAX_REDIRECTS = 10
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries. Tests pass tiny waits; production keeps the defaults."""

    attempts: int = 4
    backoff: float = 0.5  # the first wait, doubled each time, jittered by ±50 %
    max_backoff: float = 8.0
    #: The longest Retry-After we wait out inside a cycle; a longer one skips the registry.
    max_retry_after: float = 60.0
    #: Consecutive failed requests (each after its retries) before the registry is skipped.
    failures_before_skip: int = 3


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True, slots=True)
class Answer:
    """A registry's answer, read whole (within the request's deadline and the size bound)."""

    status_code: int
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    content: bytes
    url: str  # where it came from, after redirects

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The Link header by rel (as requests' ``Response.links``)."""
        header = self.headers.get("Link")
        return {link.get("rel") or link.get("url", ""): link for link in parse_header_links(header)} if header else {}

    def close(self) -> None:
        """Nothing to release: the body was read whole and the connection returned to its pool."""


def _error_detail(resp: Answer | requests.Response) -> str:
    """The first error code + message of a distribution error body, if any (never the whole body)."""
    try:
        errors = resp.json().get("errors") or []
        e = errors[0]
        return f": {e.get('code', '')} {e.get('message', '')}".rstrip()
    except Exception:
        return ""


def _read_all(raw: urllib3.BaseHTTPResponse, deadline: float, where: str) -> bytes:
    """`raw`'s body, read by `deadline` (time.monotonic) and within :data:`MAX_RESPONSE_BYTES`;
    RegistryError otherwise (the connection is dropped). The connection goes back to its pool.

    Each read returns as soon as some bytes arrive (``read1``) and may wait only for what is
    left of the deadline, so the whole request ends in time however slowly bytes come.
    """
    try:
        declared = int(raw.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_RESPONSE_BYTES:
        raw.close()
        raise RegistryError(f"{where}: refused an answer of {declared:,} bytes (the limit is "
                            f"{MAX_RESPONSE_BYTES:,})", temporary=False)
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RegistryError(f"{where}: the answer did not arrive within the request's deadline "
                                    f"({size:,} bytes so far)", temporary=True)
            sock = getattr(getattr(raw, "_connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(max(0.01, left))
            chunk = raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise RegistryError(f"{where}: refused an answer over {MAX_RESPONSE_BYTES:,} bytes", temporary=False)
            chunks.append(chunk)
    except RegistryError:
        raw.close()
        raise
    except (OSError, urllib3.exceptions.HTTPError) as e:
        raw.close()
        if isinstance(e, (TimeoutError, urllib3.exceptions.TimeoutError)):
            raise RegistryError(f"{where}: the answer did not arrive within the request's deadline "
                                f"({size:,} bytes so far)", temporary=True) from None
        raise RegistryError(f"{where}: connection failed while reading the answer ({type(e).__name__})",
                            temporary=True) from None
    raw.release_conn()
    return b"".join(chunks)


def _read_body(resp: requests.Response, deadline: float, where: str) -> None:
    """:func:`_read_all` for a requests Response sent with ``stream=True`` (token requests)."""
    if resp._content_consumed:  # not sent with stream=True: already read (without these bounds)
        return
    resp._content = _read_all(resp.raw, deadline, where)
    resp._content_consumed = True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _no_netrc(r: requests.PreparedRequest) -> requests.PreparedRequest:
    """A no-op auth: keeps requests from sending ~/.netrc credentials we did not choose."""
    return r


class _Session(requests.Session):
    """A requests Session that reads the environment's proxy and CA-bundle settings (HTTPS_PROXY,
    NO_PROXY, REQUESTS_CA_BUNDLE, ...) once per scheme and host instead of on every request:
    requests scans the whole of os.environ twice per request for them (a quarter of the CPU of a
    tag listing), and imagebot never changes its environment while it runs. What is kept is
    requests' own answer (`merge_environment_settings`), so the variables mean what they always did."""

    def __init__(self) -> None:
        super().__init__()
        self._env_settings: dict[tuple[object, ...], dict[str, object]] = {}
        self._env_lock = threading.Lock()

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
        if proxies:  # explicit per-request proxies: nothing to keep (imagebot passes none)
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        scheme, netloc = urlsplit(url)[:2]
        key = (scheme, netloc, stream, verify, cert)
        with self._env_lock:
            found = self._env_settings.get(key)
        if found is None:
            found = super().merge_environment_settings(url, proxies, stream, verify, cert)
            with self._env_lock:
                self._env_settings[key] = found
        return {**found, "proxies": dict(found["proxies"])}


@dataclass(frozen=True)
class _CookieRequest:
    """What requests' cookie helpers read of a request (its `url` and `headers`)."""

    url: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Route:
    """How requests to one scheme and host travel: the pool (direct or through a proxy) and
    whether the request line carries the whole URL (plain HTTP through a proxy) or the path."""

    pool: urllib3.HTTPConnectionPool
    whole_url: bool


class _Adapter(HTTPAdapter):
    """requests' HTTP adapter (urllib3 pools, TLS, proxies), plus :meth:`route`: the pool that
    requests would send a request to `url` through, for sending without requests' Session and
    Response layers."""

    def route(self, url: str, settings: dict[str, Any]) -> _Route:
        """`settings`: the session's merged environment settings for `url` (proxies, verify)."""
        proxies, verify = settings["proxies"], settings["verify"]
        prepared = requests.PreparedRequest()  # what the adapter reads of a request: its URL
        prepared.method, prepared.url, prepared.headers = "GET", url, requests.structures.CaseInsensitiveDict()
        pool = self.get_connection_with_tls_context(prepared, verify, proxies=proxies)
        self.cert_verify(pool, url, verify, None)
        return _Route(pool, not self.request_url(prepared, proxies).startswith("/"))


def _failure(e: BaseException) -> tuple[str, str]:
    """(stats outcome, what went wrong) for an exception from urllib3 while sending a request."""
    reason = e.reason if isinstance(e, urllib3.exceptions.MaxRetryError) and e.reason is not None else e
    if isinstance(reason, urllib3.exceptions.SSLError):
        return "tls", "tls"
    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError to urllib3: refused, no DNS
        return "connection", "ConnectionError"
    if isinstance(reason, (TimeoutError, urllib3.exceptions.TimeoutError)):
        return "timeout", "timeout"
    if isinstance(reason, urllib3.exceptions.ProxyError):
        return "connection", "ProxyError"
    return "connection", "ConnectionError"


class Registry:
    """Everything about talking to one registry host. Thread-safe."""

    def __init__(
        self,
        host: str,
        settings: RegistrySettings | None,
        credentials: CredentialStore,
        stats: RequestStats,
        retry: RetryPolicy,
        env: Mapping[str, str],
    ):
        self.host = canonical_host(host)
        # Like docker, a loopback registry without settings speaks plain HTTP.
        self.settings = settings or RegistrySettings(host=self.host, insecure=_is_loopback(self.host.rsplit(":", 1)[0]))
        # `location` (registries.conf): the API lives elsewhere, maybe under a namespace.
        where, _, self.prefix = (self.settings.location or api_host(self.host)).partition("/")
        self.base_url = f"{'http' if self.settings.insecure else 'https'}://{where}"
        self._credentials = credentials
        self._stats = stats
        self.retry = retry
        self._env = env
        # Docker Hub's stricter default is for Docker Hub itself, not for a `location` elsewhere.
        limit = self.settings.rate_limit or default_rate(where if self.settings.location else self.host)
        self.budget = Budget(limit)
        self.breaker = Breaker(retry.failures_before_skip)
        self.tokens = TokenCache()
        #: The current cycle's deadline: no request starts past it, none waits beyond it.
        self.deadline: Deadline = NO_DEADLINE
        self._lock = threading.Lock()
        self._token_locks: dict[str, threading.Lock] = {}
        self._scheme: str | None = None  # "bearer" / "basic" once the registry told us
        self._challenge: Challenge | None = None
        self.session = _Session()
        self.session.auth = _no_netrc
        self.session.headers["User-Agent"] = USER_AGENT
        # Passed with every request: a session-wide `verify` loses to $REQUESTS_CA_BUNDLE in requests.
        self._verify: str | bool = self.settings.ca_file or self.settings.tls_verify
        # pools: the registry's, and a few for the hosts it redirects to (a blob's CDN)
        self._adapter = _Adapter(pool_connections=8, pool_maxsize=max(limit.concurrency, 2))
        self.session.mount("https://", self._adapter)
        self.session.mount("http://", self._adapter)
        self._headers = {**self.session.headers}  # requests' defaults (Accept-Encoding, ...) with ours
        self._routes: dict[tuple[str, str], _Route] = {}
        self._cookies = False  # an answer set a cookie (the jar is the session's)
        self._retrying = tenacity.Retrying(
            stop=tenacity.stop_any(tenacity.stop_after_attempt(retry.attempts),
                                   lambda state: self.deadline.remaining() < 1.0),
            wait=self._wait,
            retry=tenacity.retry_if_exception(self._retryable),
            reraise=True,
            before_sleep=self._log_retry,
        )

    def close(self) -> None:
        self.session.close()

    def repository(self, repo: str) -> str:
        """The repository's name on the wire: under the location's namespace, if any."""
        return f"{self.prefix}/{repo}" if self.prefix else repo

    def new_cycle(self, deadline: Deadline = NO_DEADLINE) -> None:
        self.breaker.reset()
        self.deadline = deadline

    # -- the public entry ------------------------------------------------------------------
    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        kind: str,
        repository: str,
        what: str,
        accept: tuple[str, ...] = (),
        parse: Callable[[Answer], T] = lambda r: r,  # type: ignore[assignment,return-value]
    ) -> T:
        """Send one request (with auth, budget and retries) and return ``parse(response)``.

        `parse` runs inside the retried attempt, so a body it finds truncated (a temporary
        RegistryError) is fetched again like a 503 would be.
        """
        if self.breaker.reason:
            raise RegistryError(
                f"registry {self.host}: skipped for the rest of this cycle: {self.breaker.reason}",
                temporary=True,
                retry_after=self.breaker.retry_after,
            )
        self.deadline.check(what)
        # an API path under the registry's root (every request but a Link header's or a token realm's
        # absolute URL): joined as urljoin would join it, without its parsing (references never hold a
        # "." or ".." segment: the reference grammar has none)
        url = (f"{self.base_url}/{path_or_url.lstrip('/')}" if path_or_url.startswith(("v2/", "/v2/"))
               else urljoin(self.base_url + "/", path_or_url))
        # One Retrying per registry: tenacity keeps a call's attempts in the call's own state and its
        # statistics per thread, rebuilt at each attempt (the count read below is this call's).
        retrying = self._retrying
        try:
            result = retrying(self._attempt, method, url, kind, repository, what, accept, parse)
        except RegistryError as e:
            attempts = retrying.statistics.get("attempt_number", 1)
            if not e.temporary:
                raise
            if e.retry_after is not None and e.retry_after > self.retry.max_retry_after:
                self.breaker.open(f"rate limited for {e.retry_after:.0f}s (Retry-After)", e.retry_after)
            else:
                self.breaker.failure(super(RegistryError, e).__str__())
            if attempts > 1:
                raise type(e)(f"{super(RegistryError, e).__str__()} (gave up after {attempts} attempts)",
                              temporary=True, retry_after=e.retry_after) from None
            raise
        self.breaker.success()
        return result

    # -- retries ---------------------------------------------------------------------------
    def _retryable(self, e: BaseException) -> bool:
        if not isinstance(e, RegistryError) or isinstance(e, AuthError) or not e.temporary:
            return False
        return e.retry_after is None or e.retry_after <= self.retry.max_retry_after

    def _wait(self, state: tenacity.RetryCallState) -> float:
        e = state.outcome.exception() if state.outcome else None
        if isinstance(e, RegistryError) and e.retry_after is not None:
            return min(e.retry_after, self.retry.max_retry_after)
        base = self.retry.backoff * (2 ** (state.attempt_number - 1))
        return min(self.retry.max_backoff, base * random.uniform(0.5, 1.5))

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        e = state.outcome.exception() if state.outcome else None
        log.info("%s; retrying in %.2fs (attempt %d of %d)", e, state.upcoming_sleep, state.attempt_number + 1,
                 self.retry.attempts)

    # -- one attempt: send, answer a 401 challenge, send again ------------------------------
    def _attempt(self, method: str, url: str, kind: str, repository: str, what: str,
                 accept: tuple[str, ...], parse: Callable[[Answer], T]) -> T:
        scope = pull_scope(repository)
        answered = False
        for _ in range(3):
            auth = self._authorization(scope)
            headers = {"Authorization": auth} if auth else {}
            if accept:
                headers["Accept"] = ", ".join(accept)
            resp = self._send(method, url, kind, headers, what)
            if resp.status_code != 401:
                return parse(self._check(resp, what))
            challenges = parse_challenges(resp.headers.get("WWW-Authenticate", ""))
            resp.close()
            challenge = next((c for c in challenges if c.scheme == "bearer"), None) or next(
                (c for c in challenges if c.scheme == "basic"), None)
            if challenge is None:
                raise AuthError(f"registry {self.host}: {what}: 401 without a Bearer or Basic challenge")
            if answered:
                raise self._denied(challenge, scope, what)
            self._learn(challenge, scope, what)
            answered = True
        raise AuthError(f"registry {self.host}: {what}: authentication did not settle")  # pragma: no cover

    def _send(self, method: str, url: str, kind: str, headers: dict[str, str], what: str) -> Answer:
        with self.budget.slot():
            start = time.monotonic()
            timeout = self.deadline.cap(self.settings.timeout)
            where = f"registry {self.host}: {what}"
            try:
                answer = self._open(method, url, {**self._headers, **headers}, start + timeout, where)
            except RegistryError as e:
                self._stats.record(self.host, kind, "timeout" if e.temporary else "refused")
                raise
            except (OSError, urllib3.exceptions.HTTPError) as e:
                outcome, why = _failure(e)
                self._stats.record(self.host, kind, outcome)
                if why == "tls":
                    raise RegistryError(
                        f"{where}: TLS failed ({type(e).__name__}); set ca_file for a private CA, "
                        f"or insecure: true for a plain-HTTP registry", temporary=False) from None
                if why == "timeout":
                    raise RegistryError(f"{where}: no answer within {timeout:g}s", temporary=True) from None
                raise RegistryError(f"{where}: connection failed ({why})", temporary=True) from None
        self._stats.record(self.host, kind, answer.status_code)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %d (%.0f ms)", method, urlsplit(url).path, answer.status_code,
                      (time.monotonic() - start) * 1000)
        return answer

    def _open(self, method: str, url: str, headers: dict[str, str], deadline: float, where: str) -> Answer:
        """Send, follow redirects (at most MAX_REDIRECTS; the Authorization header never goes to
        another host, requests' rule), and read the last answer by `deadline`."""
        for _ in range(MAX_REDIRECTS + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(where)
            sent = self._with_cookies(url, headers)
            raw = self._urlopen(method, url, sent, urllib3.Timeout(connect=left, read=left))
            if "Set-Cookie" in raw.headers:
                self._keep_cookies(url, sent, raw)
            location = raw.headers.get("Location") if raw.status in _REDIRECTS else None
            if not location:
                return Answer(raw.status, raw.headers, _read_all(raw, deadline, where), url)
            raw.close()  # a redirect's body is not read: its connection is dropped
            raw.release_conn()
            target = urljoin(url, location)
            if "Authorization" in headers and self.session.should_strip_auth(url, target):
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
            if raw.status == 303 and method != "HEAD":
                method = "GET"
            url = target
        raise RegistryError(f"{where}: more than {MAX_REDIRECTS} redirects", temporary=False)

    def _with_cookies(self, url: str, headers: dict[str, str]) -> dict[str, str]:
        """`headers` with the cookies this registry's answers set that apply to `url` (a load
        balancer's sticky session, as requests' Session would keep them); as they are when none."""
        if not self._cookies:
            return headers
        cookie = get_cookie_header(self.session.cookies, _CookieRequest(url, headers))
        return {**headers, "Cookie": cookie} if cookie else headers

    def _keep_cookies(self, url: str, headers: dict[str, str], raw: urllib3.BaseHTTPResponse) -> None:
        """The cookies of an answer, kept by requests' rules (domain, path, expiry) in the session's jar."""
        extract_cookies_to_jar(self.session.cookies, _CookieRequest(url, headers), raw)
        self._cookies = True

    def _urlopen(self, method: str, url: str, headers: dict[str, str], timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
        """One request on the route to `url`'s scheme and host (worked out once), body unread."""
        scheme, netloc, path, query, _ = urlsplit(url)
        for _ in range(2):
            route = self._routes.get((scheme, netloc))
            if route is None:
                settings = self.session.merge_environment_settings(url, {}, True, self._verify, None)
                route = self._routes[(scheme, netloc)] = self._adapter.route(url, settings)
            target = url if route.whole_url else f"{path or '/'}?{query}" if query else path or "/"
            try:
                return route.pool.urlopen(method, target, headers=headers, redirect=False, assert_same_host=False,
                                          preload_content=False, decode_content=False,
                                          retries=self._adapter.max_retries, timeout=timeout)
            except urllib3.exceptions.ClosedPoolError:  # the adapter let the pool go (too many hosts)
                self._routes.pop((scheme, netloc), None)
        raise urllib3.exceptions.ClosedPoolError(None, "the connection pool closed twice")  # type: ignore[arg-type]

    def _check(self, resp: R, what: str) -> R:
        code = resp.status_code
        if code < 400:
            return resp
        where = f"registry {self.host}: {what}"
        if code == 429:
            after = _retry_after(resp.headers.get("Retry-After"))
            hint = f"; Retry-After {after:.0f}s" if after is not None else ""
            raise RegistryError(f"{where}: rate limited (429){hint}", temporary=True, retry_after=after)
        if code >= 500:
            raise RegistryError(f"{where}: server error {code}{_error_detail(resp)}", temporary=True,
                                retry_after=_retry_after(resp.headers.get("Retry-After")))
        if code == 404:
            raise RegistryError(f"{where}: not found (404){_error_detail(resp)}", temporary=False)
        if code == 403:
            raise AuthError(f"{where}: forbidden (403){_error_detail(resp)}; check the credentials' permissions")
        raise RegistryError(f"{where}: unexpected status {code}{_error_detail(resp)}", temporary=False)

    # -- auth ------------------------------------------------------------------------------
    def _creds(self) -> Credentials | None:
        return self._credentials.get(self.host)

    def _authorization(self, scope: str) -> str | None:
        """The Authorization header to send before being asked, if the registry's scheme is known."""
        with self._lock:
            scheme, challenge = self._scheme, self._challenge
        if scheme == "basic":
            creds = self._creds()
            if creds and creds.username and creds.password:
                return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            return None
        if scheme == "bearer" and challenge is not None:
            token = self.tokens.get(scope) or self._fetch_token(challenge, scope, scope)
            return f"Bearer {token.value}"
        return None

    def _learn(self, challenge: Challenge, scope: str, what: str) -> None:
        """Remember the registry's auth scheme; for Bearer, fetch a token for the challenged scope."""
        with self._lock:
            self._scheme = challenge.scheme
            if challenge.scheme == "bearer":
                self._challenge = Challenge("bearer", {k: v for k, v in challenge.params.items()
                                                       if k in ("realm", "service")})
        if challenge.scheme == "basic":
            creds = self._creds()
            if not (creds and creds.username and creds.password):
                raise self._no_credentials(what, creds)
            return
        self.tokens.drop(scope)
        asked = challenge.scope or scope
        if challenge.error == "insufficient_scope" and challenge.scope and scope not in challenge.scope.split(" "):
            asked = f"{scope} {challenge.scope}"
        self._fetch_token(challenge, scope, asked)

    def _no_credentials(self, what: str, creds: Credentials | None) -> AuthError:
        if creds and creds.identity_token:
            return AuthError(f"registry {self.host}: {what}: the registry wants Basic auth, but {creds.source} "
                             f"holds only an identity token")
        return AuthError(
            f"registry {self.host}: {what}: the registry requires credentials and none were found "
            f"(looked in imagebot's registries config and {docker_config_path(self._env)})")

    def _denied(self, challenge: Challenge, scope: str, what: str) -> AuthError:
        creds = self._creds()
        if challenge.error == "insufficient_scope":
            return AuthError(f"registry {self.host}: {what}: access denied (insufficient_scope): the token "
                             f"service granted no pull access to {challenge.scope or scope}"
                             + (f" for the credentials from {creds.source}" if creds else " anonymously"))
        if creds:
            return AuthError(f"registry {self.host}: {what}: the credentials from {creds.source} were rejected")
        return self._no_credentials(what, creds)

    def _fetch_token(self, challenge: Challenge, cache_scope: str, asked_scope: str):
        """Ask the token service named by the challenge for a token (anonymously or with credentials)."""
        with self._lock:
            scope_lock = self._token_locks.setdefault(cache_scope, threading.Lock())
        with scope_lock:  # threads wanting the same scope share one token request
            cached = self.tokens.get(cache_scope)
            if cached is not None:
                return cached
            realm = challenge.realm
            parts = urlsplit(realm)
            if parts.scheme not in ("https", "http") or not parts.netloc:
                raise AuthError(f"registry {self.host}: the auth challenge names no usable token realm {realm!r}")
            if parts.scheme == "http" and not (self.settings.insecure or _is_loopback(parts.hostname or "")):
                raise AuthError(f"registry {self.host}: refusing to send credentials to a plain-HTTP token realm "
                                f"{parts.scheme}://{parts.netloc} (set insecure: true to allow)")
            creds = self._creds()
            params = {"scope": asked_scope}
            if challenge.service:
                params["service"] = challenge.service
            what = f"token from {parts.netloc} for {asked_scope}"
            with self.budget.slot():
                start = time.monotonic()
                try:
                    if creds and creds.identity_token:
                        resp = self.session.post(realm, data={**params, "grant_type": "refresh_token",
                                                              "refresh_token": creds.identity_token,
                                                              "client_id": "imagebot"},
                                                 timeout=self.settings.timeout, verify=self._verify, stream=True)
                    else:
                        auth = (creds.username, creds.password) if creds and creds.username and creds.password else None
                        if auth:
                            params["account"] = auth[0]
                        resp = self.session.get(realm, params=params, auth=auth or _no_netrc,
                                                timeout=self.settings.timeout, verify=self._verify, stream=True)
                    _read_body(resp, start + self.settings.timeout, f"registry {self.host}: {what}")
                except requests.Timeout:
                    self._stats.record(self.host, "token", "timeout")
                    raise RegistryError(f"registry {self.host}: {what}: no answer within {self.settings.timeout:g}s",
                                        temporary=True) from None
                except requests.RequestException as e:
                    self._stats.record(self.host, "token", "connection")
                    raise RegistryError(f"registry {self.host}: {what}: connection failed ({type(e).__name__})",
                                        temporary=True) from None
            self._stats.record(self.host, "token", resp.status_code)
            if resp.status_code in (401, 403):
                if creds:
                    raise AuthError(f"registry {self.host}: the token service {parts.netloc} rejected the "
                                    f"credentials from {creds.source}")
                raise self._no_credentials(what, creds)
            self._check(resp, what)
            try:
                token = token_from_response(resp.json())
            except (ValueError, RecursionError):
                token = None
            if token is None:
                raise RegistryError(f"registry {self.host}: {what}: the token service answered without a token",
                                    temporary=True)
            self.tokens.put(cache_scope, token)
            return token

