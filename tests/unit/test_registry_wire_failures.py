"""How a failure from urllib3 is named and counted: the table requests applies, kept."""

from __future__ import annotations

import pytest
from urllib3.exceptions import (
    ConnectTimeoutError, MaxRetryError, NameResolutionError, NewConnectionError, ProtocolError, ProxyError,
    ReadTimeoutError, SSLError,
)

from imagebot.registry.transport import _failure


def wrapped(reason: Exception) -> MaxRetryError:
    return MaxRetryError(None, "/v2/", reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(("error", "expected"), [
    (wrapped(NewConnectionError(None, "refused")), ("connection", "ConnectionError")),  # type: ignore[arg-type]
    (wrapped(NameResolutionError("registry.invalid", None, OSError("no DNS"))), ("connection", "ConnectionError")),  # type: ignore[arg-type]
    (wrapped(ConnectTimeoutError(None, "connect timed out")), ("timeout", "timeout")),
    (ReadTimeoutError(None, "/v2/", "read timed out"), ("timeout", "timeout")),  # type: ignore[arg-type]
    (TimeoutError("deadline"), ("timeout", "timeout")),
    (wrapped(SSLError("certificate verify failed")), ("tls", "tls")),
    (SSLError("certificate verify failed"), ("tls", "tls")),
    (wrapped(ProxyError("proxy refused", OSError())), ("connection", "ProxyError")),
    (ProtocolError("Connection aborted.", ConnectionResetError()), ("connection", "ConnectionError")),
    (ConnectionResetError(), ("connection", "ConnectionError")),
])
def test_failures_are_named_as_requests_names_them(error, expected):
    assert _failure(error) == expected
