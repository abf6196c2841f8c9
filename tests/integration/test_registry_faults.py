"""Paging and failures, through a proxy in front of the real registry (tests/support/registry_proxy.py)."""

from __future__ import annotations

import json
import time

import pytest

from imagebot.config.schema import RateLimit, RegistrySettings
from imagebot.errors import RegistryError
from imagebot.registry import RegistryClient, RetryPolicy
from tests.support.registry_proxy import RegistryProxy

FAST = RetryPolicy(attempts=4, backoff=0.001, max_backoff=0.01, max_retry_after=5.0, failures_before_skip=3)
TAGS = ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"]


@pytest.fixture(scope="module")
def registry(module_registry):
    """One real registry for the module (seeding is the slow part); each test gets its own proxy."""
    module_registry.push_tags("team/app", TAGS)
    module_registry.push("team/other", "9.0")
    module_registry.push("team/third", "1")
    return module_registry


@pytest.fixture
def proxy(registry):
    with RegistryProxy(registry.url) as p:
        yield p


def client(proxy: RegistryProxy, tmp_path=None, retry: RetryPolicy = FAST, page_size: int = 1000,
           **kw: object) -> RegistryClient:
    return RegistryClient([RegistrySettings(host=proxy.host, insecure=True, **kw)], env={}, retry=retry,
                          cache_dir=tmp_path / "tags" if tmp_path else None, page_size=page_size)


def image(proxy: RegistryProxy, repo: str = "team/app") -> str:
    return f"{proxy.host}/{repo}"


# -- paging ---------------------------------------------------------------------------------------
def test_follows_link_pages(proxy):
    proxy.page_size = 2
    with client(proxy) as c:
        assert sorted(c.tags(image(proxy)).tags) == TAGS
        assert c.stats.count(kind="tags") == 3
    assert [p for m, p in proxy.paths] == ["/v2/team/app/tags/list"] * 3


def test_asks_for_pages_with_n(proxy):
    with client(proxy, page_size=2) as c:
        assert sorted(c.tags(image(proxy)).tags) == TAGS
    assert proxy.counts["tags"] == 1  # without page_size the proxy ignores n, like registry 2.8
    proxy.page_size = 100
    with client(proxy, page_size=2) as c:
        assert sorted(c.tags(image(proxy)).tags) == TAGS  # n=2: three pages
    assert proxy.counts["tags"] == 4


def test_a_cross_origin_next_link_is_refused(proxy):
    proxy.page_size = 2
    proxy.next_origin = "http://127.0.0.1:9"
    with client(proxy) as c:
        with pytest.raises(RegistryError, match="another origin .*127.0.0.1:9") as e:
            c.tags(image(proxy))
        assert not e.value.temporary
        assert c.stats.count(kind="tags") == 1


def test_page_cap_gives_a_clear_reason(proxy):
    proxy.page_size = 1
    with client(proxy, max_tag_pages=3) as c:
        with pytest.raises(RegistryError, match=r"more than 3 pages \(3 tags so far\); raise max_tag_pages") as e:
            c.tags(image(proxy))
        assert not e.value.temporary
        assert c.stats.count(kind="tags") == 3


def test_one_hundred_thousand_tags(proxy):
    proxy.inject("many", path="/tags/list", count=100_000)
    started = time.monotonic()
    with client(proxy) as c:
        tags = c.tags(image(proxy)).tags
    assert len(tags) == 100_000 and len(set(tags)) == 100_000
    assert time.monotonic() - started < 10


def test_one_hundred_thousand_tags_in_pages(proxy):
    proxy.page_size = 1000
    proxy.inject("many", path="/tags/list", count=100_000, times=100)
    with client(proxy, rate_limit=RateLimit(requests_per_second=1000, burst=100)) as c:
        assert len(c.tags(image(proxy)).tags) == 100_000
        assert c.stats.count(kind="tags") == 100


# -- retried faults -------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["500", "502", "503", "reset", "cut", "truncated", "timeout"])
def test_transient_faults_are_retried(proxy, fault):
    proxy.inject(fault, path="/tags/list", times=2, delay=1.0)
    with client(proxy, timeout=0.3) as c:
        assert sorted(c.tags(image(proxy)).tags) == TAGS
        assert c.stats.count(kind="tags") == 3
        # a truncated body arrives with status 200 and is read again; the others fail before that
        assert c.stats.count(kind="tags", status=200) == (3 if fault == "truncated" else 1)


@pytest.mark.parametrize("fault,reason", [
    ("503", "server error 503"),
    ("reset", "connection failed"),
    ("truncated", "not valid JSON"),
    ("timeout", "no answer within 0.3s"),
])
def test_persistent_faults_give_up_with_a_temporary_error(proxy, fault, reason):
    proxy.inject(fault, path="team/app/tags/list", times=100, delay=1.0)
    with client(proxy, timeout=0.3) as c:
        with pytest.raises(RegistryError, match=reason) as e:
            c.tags(image(proxy))
        assert e.value.temporary
        assert "gave up after 4 attempts" in str(e.value) and image(proxy) in str(e.value)
        assert c.stats.count(kind="tags") == 4
        # another image of the same registry still works
        assert c.tags(image(proxy, "team/other")).tags == ("9.0",)


def test_requests_side_by_side_each_count_their_own_attempts(proxy):
    """One registry's retry policy serves every thread: two listings that keep failing, made at
    the same time as one that succeeds, each give up after their own four attempts."""
    import threading

    proxy.inject("503", path="team/app/tags/list", times=100, delay=0.05)
    proxy.inject("503", path="team/other/tags/list", times=100, delay=0.05)
    errors: dict[str, str] = {}
    with client(proxy, timeout=0.3) as c:
        def one(repo: str) -> None:
            try:
                c.tags(image(proxy, repo))
            except RegistryError as e:
                errors[repo] = str(e)

        threads = [threading.Thread(target=one, args=(repo,)) for repo in ("team/app", "team/other")]
        for t in threads:
            t.start()
        assert c.tags(image(proxy, "team/third")).tags == ("1",)
        for t in threads:
            t.join(30)
        assert sorted(errors) == ["team/app", "team/other"]
        assert all("gave up after 4 attempts" in e for e in errors.values()), errors
        assert c.stats.count(kind="tags") == 4 + 4 + 1


def test_wrong_content_type_is_permanent_and_not_retried(proxy):
    proxy.inject("html", path="/tags/list", times=100)
    with client(proxy) as c:
        with pytest.raises(RegistryError, match="Content-Type text/html instead of JSON") as e:
            c.tags(image(proxy))
        assert not e.value.temporary
        assert c.stats.count(kind="tags") == 1


def test_429_honours_retry_after(proxy):
    proxy.inject("429", path="/tags/list", retry_after="1")
    started = time.monotonic()
    with client(proxy) as c:
        assert sorted(c.tags(image(proxy)).tags) == TAGS
    assert time.monotonic() - started >= 0.95
    assert proxy.counts["tags"] == 2


def test_429_with_a_long_retry_after_skips_the_registry_for_the_cycle(proxy):
    proxy.inject("429", path="/tags/list", retry_after="3600")
    with client(proxy) as c:
        with pytest.raises(RegistryError, match="rate limited") as e:
            c.tags(image(proxy))
        assert e.value.temporary and e.value.retry_after == pytest.approx(3600)
        with pytest.raises(RegistryError, match="skipped for the rest of this cycle: rate limited for 3600s"):
            c.tags(image(proxy, "team/other"))
        assert proxy.counts["tags"] == 1  # nothing more was sent
        c.new_cycle()
        assert c.tags(image(proxy, "team/other")).tags == ("9.0",)


def test_a_registry_that_keeps_failing_is_skipped_for_the_cycle(proxy, registry):
    proxy.inject("503", path="/tags/list", times=100)
    retry = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.01, failures_before_skip=2)
    with client(proxy, retry=retry) as c:
        for repo in ("team/app", "team/other"):
            with pytest.raises(RegistryError, match="server error 503"):
                c.tags(image(proxy, repo))
        sent = proxy.counts["tags"]
        with pytest.raises(RegistryError, match="skipped for the rest of this cycle: failed 2 times in a row") as e:
            c.tags(image(proxy, "team/third"))
        assert e.value.temporary
        assert proxy.counts["tags"] == sent == 4
        # a registry not behind the proxy is unaffected
        assert c.tags(f"{registry.host}/team/third").tags == ("1",)
        proxy.clear()
        c.new_cycle()
        assert c.tags(image(proxy, "team/third")).tags == ("1",)


def test_not_found_does_not_count_as_the_registry_failing(proxy):
    retry = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.01, failures_before_skip=1)
    with client(proxy, retry=retry) as c:
        for repo in ("team/x", "team/y"):
            with pytest.raises(RegistryError, match="not found"):
                c.tags(image(proxy, repo))
        assert c.tags(image(proxy)).tags


# -- stale-on-error cache -------------------------------------------------------------------------
def test_the_last_good_list_is_served_when_the_registry_fails(proxy, tmp_path):
    with client(proxy, tmp_path) as c:
        assert c.tags(image(proxy)).stale_age is None
        proxy.inject("503", path="/tags/list", times=100)
        c.new_cycle()
        stale = c.tags(image(proxy))
        assert sorted(stale.tags) == TAGS
        assert stale.stale_age is not None and 0 <= stale.stale_age < 60
        # a repository never listed before has nothing to fall back on
        with pytest.raises(RegistryError):
            c.tags(image(proxy, "team/other"))
    files = list((tmp_path / "tags").glob("*.json"))
    assert len(files) == 1
    assert json.loads(files[0].read_text())["image"] == image(proxy)


def test_the_cache_does_not_hide_permanent_errors(proxy, tmp_path):
    with client(proxy, tmp_path) as c:
        c.tags(image(proxy))
        proxy.inject("html", path="/tags/list", times=100)
        c.new_cycle()
        with pytest.raises(RegistryError, match="text/html"):
            c.tags(image(proxy))


def test_digest_head_faults_are_retried(proxy, registry):
    stored = registry.push("team/digest", "3.0.0")
    proxy.inject("502", path="/manifests/", method="HEAD")
    with client(proxy) as c:
        assert c.digest(image(proxy, "team/digest"), "3.0.0") == stored
        assert c.stats.count(kind="manifest") == 3  # HEAD 502, HEAD, the verifying GET
