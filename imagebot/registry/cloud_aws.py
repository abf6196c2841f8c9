"""``provider: aws``: Amazon ECR with the workload's AWS identity, through boto3.

boto3 finds the identity the usual way: on EKS with IRSA (or EKS Pod Identity) the pod has
``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE`` and boto3 calls STS
``AssumeRoleWithWebIdentity`` itself; elsewhere env keys, a profile or the instance role.
ECR ``GetAuthorizationToken`` then returns ``base64("AWS:<password>")``, valid for 12 hours: the
registry's Basic credentials (user ``AWS``).

The region and registry (account) id come from the host
(``<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]``); for any other host (a pull-through
proxy, a test stand-in) from ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, and the token is the
caller's own account's. ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_ECR`` / ``_STS`` point boto3 at
other endpoints (VPC endpoints, or a local moto server in the tests).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

import boto3
import botocore.config
import botocore.exceptions

from imagebot import redact
from imagebot.config.schema import RegistrySettings
from imagebot.errors import AuthError
from imagebot.registry.credentials import Credentials, quiet_loggers, usable_until

quiet_loggers("botocore", "boto3", "s3transfer")

_ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_TEMPORARY = {"ThrottlingException", "ServiceUnavailableException", "ServerException", "RequestTimeout",
              "InternalFailure", "IDPCommunicationError"}


def registry_of(host: str, env: Mapping[str, str]) -> tuple[str, str | None]:
    """(region, registry id or None) for an ECR host; other hosts: the region from the environment."""
    m = _ECR_HOST.match(host.split(":")[0])
    if m:
        return m["region"], m["account"]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise AuthError(f"registry {host}: provider: aws, but the host is not an ECR registry "
                        f"(<account>.dkr.ecr.<region>.amazonaws.com) and AWS_REGION is not set")
    return region, None


def _register_identity(session: boto3.session.Session, env: Mapping[str, str]) -> None:
    """Whatever boto3 read or obtained (the web identity token, STS keys) is a secret from now on."""
    token_file = env.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                redact.register(f.read().strip())
        except OSError:
            pass  # boto3 reports it
    creds = session.get_credentials()
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        redact.register(frozen.secret_key)
        redact.register(frozen.token)


def login(host: str, settings: RegistrySettings, env: Mapping[str, str]) -> Credentials:
    region, registry_id = registry_of(host, env)
    config = botocore.config.Config(connect_timeout=settings.timeout, read_timeout=settings.timeout,
                                    retries={"max_attempts": 3, "mode": "standard"})
    try:
        session = boto3.session.Session(region_name=region)
        _register_identity(session, env)
        ecr = session.client("ecr", config=config)
        answer = ecr.get_authorization_token(**({"registryIds": [registry_id]} if registry_id else {}))
    except botocore.exceptions.NoCredentialsError:
        raise AuthError(f"registry {host}: provider: aws found no AWS identity (on EKS: IRSA's AWS_ROLE_ARN + "
                        f"AWS_WEB_IDENTITY_TOKEN_FILE, or EKS Pod Identity, on the imagebot ServiceAccount)") from None
    except botocore.exceptions.ClientError as e:
        error = e.response.get("Error", {})
        code = error.get("Code", "")
        raise AuthError(f"registry {host}: provider: aws: {e.operation_name} failed: {code} "
                        f"{redact.redact(str(error.get('Message', '')))[:300]}",
                        temporary=code in _TEMPORARY) from None
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError,
            botocore.exceptions.ReadTimeoutError) as e:
        raise AuthError(f"registry {host}: provider: aws: cannot reach AWS ({type(e).__name__})", temporary=True) from None
    except botocore.exceptions.BotoCoreError as e:
        raise AuthError(f"registry {host}: provider: aws: {type(e).__name__}: {redact.redact(str(e))[:300]}") from None
    data = (answer.get("authorizationData") or [{}])[0]
    token = data.get("authorizationToken")
    if not token:
        raise AuthError(f"registry {host}: provider: aws: ECR GetAuthorizationToken returned no token", temporary=True)
    redact.register(token)
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep = ""
    if not sep:
        raise AuthError(f"registry {host}: provider: aws: the ECR token is not base64 of user:password")
    expires = data.get("expiresAt")
    expires_at = usable_until(expires.timestamp() if expires is not None else None)
    who = f"role {env['AWS_ROLE_ARN']}" if env.get("AWS_ROLE_ARN") else "the default AWS identity"
    return Credentials(f"aws ECR GetAuthorizationToken ({who}, {region})", username=user, password=password,
                       expires_at=expires_at)
