"""Credential sources for registry tests: a docker config.json and a docker credential helper.

The helper is a real executable named ``docker-credential-<name>`` in a bin folder the test
puts first on PATH; it answers ``get`` from a JSON file and logs the server URLs it was asked
about, like docker's helpers do (ECR, GCR, ACR, pass, osxkeychain...).
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

_HELPER = '''#!{python}
import json, sys
store = json.load(open({store!r}))
if sys.argv[1:] != ["get"]:
    sys.exit("only 'get' is supported")
server = sys.stdin.read().strip()
with open({log!r}, "a") as log:
    log.write(server + "\\n")
if server not in store:
    print("credentials not found in native keychain")
    sys.exit(1)
user, secret = store[server]
print(json.dumps({{"ServerURL": server, "Username": user, "Secret": secret}}))
'''


def write_docker_config(directory: Path, data: dict[str, Any]) -> Path:
    """Write `data` as DIRECTORY/config.json (point DOCKER_CONFIG at DIRECTORY)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(data))
    return path


def basic_auth_entry(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


class CredentialHelper:
    """docker-credential-NAME in BIN answering from `store` ({server: (user, secret)})."""

    def __init__(self, bin_dir: Path, name: str, store: dict[str, tuple[str, str]]):
        bin_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.store_file = bin_dir / f".{name}-store.json"
        self.log_file = bin_dir / f".{name}-asked.log"
        self.store_file.write_text(json.dumps(store))
        self.path = bin_dir / f"docker-credential-{name}"
        self.path.write_text(_HELPER.format(python=sys.executable, store=str(self.store_file), log=str(self.log_file)))
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.bin_dir = bin_dir

    def env(self, **extra: str) -> dict[str, str]:
        """An environment with the helper first on PATH."""
        return {"PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **extra}

    def asked(self) -> list[str]:
        return self.log_file.read_text().split() if self.log_file.exists() else []
