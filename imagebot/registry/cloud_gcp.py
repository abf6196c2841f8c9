"""``provider: gcp``: Artifact Registry / Container Registry with the workload's Google identity.

google-auth's Application Default Credentials find the identity: on GKE with Workload Identity
(or any GCE VM) the metadata server hands out an OAuth2 access token for the Kubernetes
ServiceAccount's Google service account; elsewhere GOOGLE_APPLICATION_CREDENTIALS or gcloud's
ADC file. The registry takes the token as a password for the user ``oauth2accesstoken`` (what
``docker-credential-gcr`` does). Tokens live about an hour.

``GCE_METADATA_HOST`` / ``GCE_METADATA_IP`` point google-auth at another metadata server (the
tests' fake); they are read when google-auth is first imported.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import requests

from imagebot import redact
from imagebot.config.schema import RegistrySettings
from imagebot.errors import AuthError
from imagebot.registry.credentials import Credentials, quiet_loggers, usable_until

quiet_loggers("google.auth", "google_auth_httplib2")
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
USERNAME = "oauth2accesstoken"


class _BoundedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport with every call bounded by the registry's timeout."""

    def __init__(self, timeout: float):
        super().__init__(requests.Session())
        self._timeout = timeout

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):  # type: ignore[no-untyped-def]
        return super().__call__(url, method=method, body=body, headers=headers,
                                timeout=min(timeout or self._timeout, self._timeout), **kwargs)


def login(host: str, settings: RegistrySettings, env: Mapping[str, str]) -> Credentials:
    request = _BoundedRequest(settings.timeout)
    try:
        creds, _project = google.auth.default(scopes=[SCOPE], request=request)
        creds.refresh(request)
    except google.auth.exceptions.DefaultCredentialsError:
        raise AuthError(f"registry {host}: provider: gcp found no Google identity (on GKE: Workload Identity on "
                        f"the imagebot ServiceAccount; elsewhere GOOGLE_APPLICATION_CREDENTIALS)") from None
    except google.auth.exceptions.TransportError as e:
        raise AuthError(f"registry {host}: provider: gcp: cannot reach the token source: "
                        f"{redact.redact(str(e))[:300]}", temporary=True) from None
    except google.auth.exceptions.GoogleAuthError as e:
        retryable = bool(getattr(e, "retryable", False))
        raise AuthError(f"registry {host}: provider: gcp: {type(e).__name__}: {redact.redact(str(e))[:300]}",
                        temporary=retryable) from None
    token = creds.token
    if not token:
        raise AuthError(f"registry {host}: provider: gcp: google-auth returned no access token", temporary=True)
    redact.register(token)
    expiry = creds.expiry  # naive UTC
    expires_at = usable_until(calendar.timegm(expiry.utctimetuple()) if expiry is not None else None)
    who = getattr(creds, "service_account_email", None) or type(creds).__name__
    return Credentials(f"gcp access token ({who})", username=USERNAME, password=token, expires_at=expires_at)
