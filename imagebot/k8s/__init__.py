"""Kubernetes: leader election on a Lease, Events, and the live side of drift.

The only package that imports `kubernetes`; everything above it sees plain callables
(`can_write`), reporters and frozen values.
"""
