"""The registry transport's Session reads the proxy / CA-bundle environment once per scheme and
host (requests would scan os.environ twice per request): the answer is requests' own, per host
(NO_PROXY decides per host), and what a request then uses."""

from __future__ import annotations

import requests

from imagebot.registry.transport import _Session

URLS = ["https://ghcr.io/v2/org/app/tags/list", "https://internal.example.com/v2/x/tags/list",
        "http://127.0.0.1:5000/v2/", "https://auth.docker.io/token?scope=repository:library/nginx:pull"]


def settings(session: requests.Session, url: str, verify: bool | str = True) -> dict:
    return session.merge_environment_settings(url, {}, True, verify, None)


def test_the_answer_is_requests_own_for_every_host(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.com,127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp/ca.pem")
    ours, theirs = _Session(), requests.Session()
    for url in URLS:
        for verify in (True, False, "/my/ca.pem"):
            assert settings(ours, url, verify) == settings(theirs, url, verify), (url, verify)
    assert settings(ours, URLS[0])["proxies"].get("https") == "http://proxy.corp:3128"
    assert settings(ours, URLS[1])["proxies"] == {}  # NO_PROXY, decided for that host
    assert settings(ours, URLS[0])["verify"] == "/etc/corp/ca.pem"  # the env bundle, as requests does


def test_read_once_per_host_and_never_shared_by_reference(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    session = _Session()
    first = settings(session, URLS[0])
    first["proxies"]["https"] = "mutated by a caller"
    monkeypatch.delenv("HTTPS_PROXY")
    again = settings(session, URLS[0])
    assert again["proxies"]["https"] == "http://proxy.corp:3128"  # kept, and not the caller's copy
    assert settings(session, "https://other.example/v2/")["proxies"] == {}  # another host: read now


def test_explicit_proxies_are_passed_through(monkeypatch):
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    session = _Session()
    got = session.merge_environment_settings(URLS[0], {"https": "http://explicit:1"}, True, True, None)
    assert got["proxies"]["https"] == "http://explicit:1"
