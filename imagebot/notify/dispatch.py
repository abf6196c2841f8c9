"""Sending, off the cycle's path: one worker thread and one bounded queue per target.

A target that hangs or fails delays no cycle and no other target: the cycle only enqueues. Each
message is tried up to `max_attempts` times with exponential back-off (a 429's Retry-After is
honoured, within bounds); a 4xx other than 408/429 is not retried (the request is wrong, not the
moment). Messages beyond a full queue are dropped with a log line and a metric, never blocking.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_exponential

from imagebot import __version__
from imagebot.notify.services.webhook import signature
from imagebot.notify.targets import Target
from imagebot.throttle import TokenBucket

log = logging.getLogger(__name__)

QUEUE_SIZE = 100
MAX_RETRY_AFTER = 60.0
USER_AGENT = f"imagebot/{__version__}"

Outcome = Callable[[str, str], None]  # (target name, "sent" | "failed" | "dropped")


class _Retry(Exception):
    def __init__(self, why: str, after: float | None = None):
        super().__init__(why)
        self.after = after


class _Give(Exception):
    """Not worth retrying."""


class Sender:
    """Posts one JSON body to one target, with retries; blocking (runs in the target's worker)."""

    def __init__(self, target: Target, session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep):
        self.target = target
        self.session = session or requests.Session()
        self.sleep = sleep
        s = target.settings
        self.bucket = TokenBucket(s.rate_limit, s.burst)

    def headers(self, data: bytes) -> dict[str, str]:
        h = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if self.target.type == "webhook" and self.target.secret:
            h["X-Imagebot-Signature"] = signature(self.target.secret, data)
            h["X-Imagebot-Timestamp"] = str(int(time.time()))
        return h

    def _once(self, body: Any) -> None:
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        self.bucket.take()
        t = self.target.settings.timeout
        try:
            with self.session.post(self.target.url, data=data, headers=self.headers(data), timeout=(t, t),
                                   allow_redirects=False, stream=True) as r:
                status = r.status_code
                retry_after = r.headers.get("Retry-After")
        except requests.RequestException as e:
            raise _Retry(type(e).__name__) from None
        if 200 <= status < 300:
            return
        if status in (408, 429) or status >= 500:
            after = None
            if retry_after and retry_after.strip().isdigit():
                after = min(float(retry_after), MAX_RETRY_AFTER)
            raise _Retry(f"HTTP {status}", after)
        raise _Give(f"HTTP {status}")

    def send(self, body: Any) -> tuple[bool, str]:
        """(sent, why not). Never raises."""
        s = self.target.settings
        base = wait_exponential(multiplier=0.5, max=30)

        def wait(state: Any) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retry) and exc.after is not None:
                return exc.after
            return base(state)

        try:
            for attempt in Retrying(stop=stop_after_attempt(s.max_attempts) | stop_after_delay(s.timeout * s.max_attempts * 3),
                                    wait=wait, retry=retry_if_exception_type(_Retry), sleep=self.sleep, reraise=False):
                with attempt:
                    self._once(body)
            return True, ""
        except RetryError as e:
            last = e.last_attempt.exception()
            return False, f"{last} after {e.last_attempt.attempt_number} attempt(s)"
        except _Give as e:
            return False, str(e)
        except Exception as e:  # noqa: BLE001 - a sender must never take its worker down
            return False, f"{type(e).__name__}: {e}"


class Dispatcher:
    """A worker thread per target; `submit` never blocks."""

    def __init__(self, targets: list[Target], on_outcome: Outcome | None = None,
                 sender: Callable[[Target], Sender] = Sender):
        self.on_outcome = on_outcome or (lambda name, result: None)
        self._queues: dict[str, queue.Queue[Any]] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        for t in targets:
            q: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
            self._queues[t.name] = q
            th = threading.Thread(target=self._work, args=(sender(t), q), name=f"imagebot-notify-{t.name}", daemon=True)
            th.start()
            self._threads.append(th)

    def submit(self, target: Target, body: Any) -> bool:
        q = self._queues.get(target.name)
        if q is None:
            return False
        try:
            q.put_nowait(body)
            return True
        except queue.Full:
            log.warning("notifications: %s is not keeping up; a message was dropped", target.name)
            self.on_outcome(target.name, "dropped")
            return False

    def _work(self, sender: Sender, q: queue.Queue[Any]) -> None:
        name = sender.target.name
        while not self._stop.is_set():
            try:
                body = q.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                ok, why = sender.send(body)
                if ok:
                    self.on_outcome(name, "sent")
                else:
                    log.warning("notifications: sending to %s failed: %s", name, why,
                                extra={"fields": {"event": "notification_failed", "target": name, "reason": why}})
                    self.on_outcome(name, "failed")
            finally:
                q.task_done()

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every queue to drain; True when all did."""
        deadline = time.monotonic() + timeout
        for q in self._queues.values():
            while q.unfinished_tasks:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)
        return True

    def close(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(0.5)
