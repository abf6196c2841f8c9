"""Manifest text for tests that need "some annotated workload" rather than a particular file."""

from __future__ import annotations


def deployment(name: str, image: str, policy: str = "semver:^1.0") -> str:
    """A Deployment `name` with one container `app` running `image` under `policy`."""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  annotations:
    imagebot.io/policy: "{policy}"
spec:
  template:
    spec:
      containers:
        - name: app
          image: {image}
"""
