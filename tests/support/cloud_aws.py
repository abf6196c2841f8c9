"""AWS for tests: moto's server on 127.0.0.1 (ECR, STS, IAM), with IAM enforcement on cue.

    with MotoAWS(tmp_path) as aws:
        role = aws.web_identity_role("imagebot-ecr", ["ecr:GetAuthorizationToken"])
        aws.enforce_after(1)      # the next request (unsigned AssumeRoleWithWebIdentity) is free,
                                  # every later one must be signed by an identity IAM allows
        env = aws.pod_env(role)   # AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ENDPOINT_URL ...

What moto does and does not check (so that the tests claim no more than that):

* ``AssumeRoleWithWebIdentity`` returns fresh keys for any role ARN; it does not validate the
  web-identity token. The test records the token each call carried (:attr:`web_identity_tokens`,
  by wrapping moto's STS handler in this process) and compares it with the file's content.
* With enforcement on, moto checks each signed request's SigV4 signature against the keys it
  issued and the caller's IAM policies (an assumed role: the role's). A GetAuthorizationToken
  that succeeds was signed with the keys STS handed out for the role.
* ``GetAuthorizationToken`` returns ``base64("AWS:<account>-auth-token")`` with ``expiresAt``
  2015-01-01 (already past): the registry the test lists tags from is given that password.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer
from moto.sts.responses import TokenResponse

from tests.support.registry import free_port

ACCOUNT = "123456789012"
ECR_PASSWORD = f"{ACCOUNT}-auth-token"  # what moto's GetAuthorizationToken decodes to, after "AWS:"
REGION = "eu-west-1"
WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.projected-service-account-token-for-imagebot.sig"


class MotoAWS:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.web_identity_tokens: list[str] = []
        self._original: Any = None

    def __enter__(self) -> "MotoAWS":
        self._original = TokenResponse.assume_role_with_web_identity
        recorded, original = self.web_identity_tokens, self._original

        def recording(response: TokenResponse) -> Any:
            recorded.append(response._get_param("WebIdentityToken"))
            return original(response)

        TokenResponse.assume_role_with_web_identity = recording  # type: ignore[method-assign]
        self.server.start()
        requests.post(f"{self.url}/moto-api/reset", timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            requests.post(f"{self.url}/moto-api/reset-auth", data=b"inf", timeout=10)
        finally:
            self.server.stop()
            TokenResponse.assume_role_with_web_identity = self._original  # type: ignore[method-assign]

    def admin(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url,
                            aws_access_key_id="AKIAADMINTESTING0000", aws_secret_access_key="testing")

    def web_identity_role(self, name: str, actions: list[str]) -> str:
        """A role the cluster's OIDC provider may assume (IRSA's trust policy), allowed `actions`."""
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/TEST"},
        }]}
        iam = self.admin("iam")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        if actions:
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
            iam.put_role_policy(RoleName=name, PolicyName="imagebot", PolicyDocument=json.dumps(policy))
        return arn

    def issued_secrets(self) -> list[str]:
        """The secret keys and session tokens STS handed out (none may appear in any output)."""
        from moto.sts.models import sts_backends

        roles = sts_backends[ACCOUNT]["aws"].assumed_roles
        return [s for r in roles for s in (r.secret_access_key, r.session_token)]

    def enforce_after(self, free_requests: int) -> None:
        """IAM enforcement on, after `free_requests` more unauthenticated requests."""
        r = requests.post(f"{self.url}/moto-api/reset-auth", data=str(free_requests).encode(), timeout=10)
        r.raise_for_status()

    def pod_env(self, role_arn: str, home: Path) -> dict[str, str]:
        """What EKS IRSA puts into the pod (plus the endpoint of this stand-in); no keys."""
        token_file = self.workdir / "eks.amazonaws.com" / "serviceaccount" / "token"
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(WEB_IDENTITY_TOKEN)
        home.mkdir(parents=True, exist_ok=True)
        return {
            "AWS_ROLE_ARN": role_arn,
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "HOME": str(home),
        }
