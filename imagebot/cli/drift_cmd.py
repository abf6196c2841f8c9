"""`imagebot drift`: compare the images Git declares with the live workloads (read-only)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from imagebot.cli.common import config_option, handle_errors, load_config, pick_lanes, repository_option
from imagebot.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, UsageError


@click.command("drift")
@config_option
@click.option("--json", "as_json_", is_flag=True, help="Print the report as JSON.")
@click.option("--path", "tree", type=click.Path(file_okay=False, exists=True),
              help="Read this local work tree instead of cloning repository.url.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None,
              help="Kubeconfig file. Default: in a pod its service account, else $KUBECONFIG or ~/.kube/config.")
@click.option("--context", default=None, help="Kubeconfig context. Default: the current one.")
@click.option("--namespace", "default_namespace", default="default", show_default=True,
              help="Namespace of workloads whose manifests name none (and no kustomization sets one).")
@repository_option
@handle_errors
def drift(config_path: str | None, as_json_: bool, tree: str | None, kubeconfig: str | None, context: str | None,
          default_namespace: str, repository: str | None) -> None:
    """Report every workload whose live images differ from Git. Never changes the cluster.

    Exit 0: no drift; 1: drift found; 3: a workload could not be read.
    """
    top = load_config(config_path)
    lanes = pick_lanes(top, repository)
    if len(lanes) > 1:
        raise UsageError("drift compares one repository's workloads with the cluster: name it with --repository")
    from imagebot.discover.declared import declared_workloads
    from imagebot.k8s.client import api_client
    from imagebot.k8s.drift import api_reader, check_drift
    from imagebot.lanes import workspace_for

    cfg = lanes[0].config
    root = Path(tree) if tree else workspace_for(top, lanes[0]).checkout()
    declared = declared_workloads(root, paths=cfg.repository.paths, exclude=cfg.repository.exclude)
    report = check_drift(declared.workloads, api_reader(api_client(kubeconfig=kubeconfig, context=context)),
                         default_namespace)
    problems = list(declared.problems) + list(report.problems)
    if as_json_:
        click.echo(json.dumps({
            "checked": report.checked,
            "drifted_workloads": report.drifted_workloads,
            "drifts": [d.as_dict() for d in report.drifts],
            "problems": [str(p) for p in problems],
        }, indent=2))
    else:
        for d in report.drifts:
            click.echo(str(d))
        for p in problems:
            click.echo(str(p), err=True)
        click.echo(f"{report.checked} workload(s) checked; {report.drifted_workloads} drifted; {len(problems)} problem(s).")
    sys.exit(EXIT_FAILED if report.problems else EXIT_PARTIAL if report.drifts else EXIT_OK)
