"""``provider: azure``: Azure Container Registry with the workload's Entra ID (AAD) identity.

azure-identity's DefaultAzureCredential finds the identity: on AKS with Workload Identity the
pod has ``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``, ``AZURE_FEDERATED_TOKEN_FILE`` and
``AZURE_AUTHORITY_HOST`` and WorkloadIdentityCredential trades the projected ServiceAccount
token for an AAD access token; elsewhere a managed identity, env secrets or the Azure CLI.

ACR does not take the AAD token itself: ``POST https://<registry>/oauth2/exchange``
(``grant_type=access_token``) turns it into an ACR refresh token (about 3 hours), which the
registry's token service accepts as the password of the user
``00000000-0000-0000-0000-000000000000`` — what ``az acr login`` and Flux do.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import azure.core.exceptions
import azure.identity
import requests

from imagebot import redact
from imagebot.config.schema import RegistrySettings
from imagebot.errors import AuthError
from imagebot.registry.credentials import Credentials, quiet_loggers, usable_until

quiet_loggers("azure", "msal")
#: The AAD scope ACR's exchange accepts (Azure public cloud; Flux and `az acr login` use it too).
SCOPE = "https://management.azure.com/.default"
USERNAME = "00000000-0000-0000-0000-000000000000"


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (read, not verified: the registry verifies it), else None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def aad_token(host: str, settings: RegistrySettings) -> tuple[str, float]:
    """An Entra ID access token for ACR, and when it expires (epoch seconds)."""
    try:
        credential = azure.identity.DefaultAzureCredential(exclude_interactive_browser_credential=True)
        with credential:
            token = credential.get_token(SCOPE)
    except azure.identity.CredentialUnavailableError:
        raise AuthError(f"registry {host}: provider: azure found no Azure identity (on AKS: Workload Identity on "
                        f"the imagebot ServiceAccount: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE)"
                        ) from None
    except azure.identity.AuthenticationRequiredError as e:
        raise AuthError(f"registry {host}: provider: azure: {redact.redact(str(e))[:300]}") from None
    except azure.core.exceptions.ClientAuthenticationError as e:
        # azure-identity wraps both refusals and unreachable endpoints in this; a status says which.
        status = getattr(getattr(e, "response", None), "status_code", None)
        temporary = status is None or status >= 500 or status == 429
        raise AuthError(f"registry {host}: provider: azure: Entra ID token request failed: "
                        f"{redact.redact(e.message or str(e))[:300]}", temporary=temporary) from None
    except azure.core.exceptions.ServiceRequestError as e:
        raise AuthError(f"registry {host}: provider: azure: cannot reach Entra ID ({type(e).__name__})",
                        temporary=True) from None
    redact.register(token.token)
    return token.token, float(token.expires_on)


def login(host: str, settings: RegistrySettings, env: Mapping[str, str]) -> Credentials:
    access, access_expiry = aad_token(host, settings)
    url = f"{'http' if settings.insecure else 'https'}://{host}/oauth2/exchange"
    form = {"grant_type": "access_token", "service": host, "access_token": access}
    if env.get("AZURE_TENANT_ID"):
        form["tenant"] = env["AZURE_TENANT_ID"]
    try:
        resp = requests.post(url, data=form, timeout=settings.timeout, verify=settings.ca_file or settings.tls_verify)
    except requests.RequestException as e:
        raise AuthError(f"registry {host}: provider: azure: ACR token exchange failed ({type(e).__name__})",
                        temporary=True) from None
    if resp.status_code != 200:
        raise AuthError(f"registry {host}: provider: azure: ACR token exchange answered {resp.status_code} "
                        f"{redact.redact(resp.text)[:200]}", temporary=resp.status_code >= 500 or resp.status_code == 429)
    try:
        refresh = resp.json()["refresh_token"]
    except (ValueError, KeyError, TypeError):
        refresh = None
    if not isinstance(refresh, str) or not refresh:
        raise AuthError(f"registry {host}: provider: azure: the ACR token exchange returned no refresh token",
                        temporary=True)
    redact.register(refresh)
    expires_at = usable_until(jwt_expiry(refresh) or access_expiry)
    who = env.get("AZURE_CLIENT_ID") or "the default Azure identity"
    return Credentials(f"azure ACR refresh token (client {who})", username=USERNAME, password=refresh,
                       expires_at=expires_at)
