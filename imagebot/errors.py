"""The error tree.

Every error knows the process exit code it maps to and whether retrying can help
(`temporary`). Messages never contain secrets: they are passed through
:func:`imagebot.redact.redact` when rendered.
"""

from __future__ import annotations

from imagebot.redact import redact

# Exit codes (documented in the README).
EXIT_OK = 0
EXIT_PARTIAL = 1  # the cycle ran, but some images, files or deliveries failed
EXIT_USAGE = 2  # bad config, bad arguments, bad policy: nothing was done
EXIT_FAILED = 3  # the cycle could not run or deliver at all (git remote, push, API)


class ImagebotError(Exception):
    """Base of all errors imagebot raises on purpose."""

    exit_code: int = EXIT_FAILED
    #: True when the same call may succeed later (network trouble, 5xx, 429, a moved branch).
    temporary: bool = False

    def __init__(self, message: str, *, temporary: bool | None = None, retry_after: float | None = None):
        super().__init__(message)
        if temporary is not None:
            self.temporary = temporary
        #: Seconds the other side asked us to wait (HTTP Retry-After), when known.
        self.retry_after = retry_after

    def __str__(self) -> str:
        return redact(super().__str__())


class UsageError(ImagebotError):
    """Bad command-line arguments."""

    exit_code = EXIT_USAGE


class ConfigError(ImagebotError):
    """The configuration is invalid. `problems` lists every bad field as 'path: message'."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, problems: list[str] | tuple[str, ...] = ()):
        super().__init__(message)
        self.problems = tuple(problems)

    def __str__(self) -> str:
        text = super().__str__()
        if self.problems:
            text += "".join(f"\n  - {redact(p)}" for p in self.problems)
        return text


class PolicyError(ImagebotError):
    """A policy string, regular expression or extract template is invalid (points at the bad part)."""

    exit_code = EXIT_USAGE


class ReferenceError_(ImagebotError):
    """An image reference cannot be parsed."""

    exit_code = EXIT_USAGE


class RegistryError(ImagebotError):
    """A registry call failed. `temporary` says whether a later try may succeed."""

    exit_code = EXIT_PARTIAL


class AuthError(RegistryError):
    """The registry refused our credentials (or we have none). Retrying will not help."""

    temporary = False


class EditError(ImagebotError):
    """An edit was refused because it cannot be done byte-exactly or would change other values."""

    exit_code = EXIT_PARTIAL


class DeliveryError(ImagebotError):
    """Git or the forge refused a commit, push or pull request."""

    exit_code = EXIT_FAILED


class PushRejected(DeliveryError):
    """The remote branch moved under us; fetch, rebase and retry."""

    temporary = True
