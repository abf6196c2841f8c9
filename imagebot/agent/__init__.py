"""The in-cluster agent: cycles on an interval and on registry webhooks, one writer at a time.

`serve(cfg, listen=..., log_format=...)` is what `imagebot run` (without --once) calls. It is
imported on first call: the parts (webhook parsing, the loop, the HTTP server) stay importable
and testable without the whole pipeline and the Kubernetes client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagebot.config.schema import Config

__all__ = ["serve"]


def serve(cfg: Config, **kwargs: Any) -> int:
    """Run the agent until SIGTERM / SIGINT; see :func:`imagebot.agent.serve.serve`."""
    from imagebot.agent.serve import serve as run_agent

    return run_agent(cfg, **kwargs)
