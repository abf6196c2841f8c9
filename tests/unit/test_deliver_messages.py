"""Commit message templates and pull-request bodies."""

from __future__ import annotations

import pytest

from imagebot import redact
from imagebot.deliver.messages import commit_message, pull_request_body, summary, version_of
from imagebot.deliver.pr_body import source_url
from imagebot.model import FieldKind
from tests.support.deliver_plans import change

WEB = change("apps/web.yaml", "ghcr.io/org/web", "1.0.0", "1.1.0")
API = change("apps/api.yaml", "ghcr.io/org/api", "2.0.0", "2.1.0")


@pytest.mark.parametrize(
    "ref, version",
    [
        ("ghcr.io/org/app:1.2.3", "1.2.3"),
        ("127.0.0.1:5000/app:v2", "v2"),
        ("127.0.0.1:5000/app@sha256:" + "a" * 64, "sha256:aaaaaaaaaaaa"),
        ("ghcr.io/org/app:1.2@sha256:" + "b" * 64, "1.2@sha256:bbbbbbbbbbbb"),
    ],
)
def test_version_of(ref: str, version: str):
    assert version_of(ref) == version


def test_summary():
    assert summary([WEB]) == "Update ghcr.io/org/web to 1.1.0"
    assert summary([WEB, API]) == "Update 2 images"
    assert summary([WEB, API], "apps/") == "Update 2 images in apps/"


def test_default_message_names_each_image_old_and_new():
    msg = commit_message(None, [WEB, API], branch="staging", plan_id="abc")
    assert msg == (
        "Update 2 images\n\n"
        "- ghcr.io/org/api:2.0.0 -> ghcr.io/org/api:2.1.0 (apps/api.yaml:10, policy semver:^1)\n"
        "- ghcr.io/org/web:1.0.0 -> ghcr.io/org/web:1.1.0 (apps/web.yaml:10, policy semver:^1)\n"
    )


def test_literal_braces_and_message_only_template():
    assert commit_message("deps: {{images}} {count}", [WEB], branch="b", plan_id="p") == "deps: {images} 1\n"


def test_body_escapes_table_cells_and_links_only_safe_urls():
    odd = change("apps/web.yaml", "ghcr.io/org/web", "1.0.0", "1.1.0")
    odd = type(odd)(odd.occurrence, odd.old, odd.new, odd.old_ref, odd.new_ref, "a | b\nsecond line")
    labels = {"ghcr.io/org/web": {"org.opencontainers.image.source": "https://github.com/org/web"}}
    body = pull_request_body([odd], marker="group=x", labels=labels)
    assert "| [`ghcr.io/org/web`](https://github.com/org/web) |" in body
    assert "a \\| b second line" in body and body.endswith("<!-- imagebot:group=x -->\n")
    evil = {"ghcr.io/org/web": {"org.opencontainers.image.source": "javascript:alert(1)"}}
    assert source_url(evil, WEB) is None
    assert source_url({"ghcr.io/org/web": {"org.opencontainers.image.source": "https://x/y) [z](http://e"}}, WEB) is None


def test_bodies_and_messages_never_carry_a_secret():
    redact.register("s3cr3t-token-value")
    leaky = type(WEB)(WEB.occurrence, WEB.old, WEB.new, WEB.old_ref, WEB.new_ref, "reason with s3cr3t-token-value")
    assert "s3cr3t" not in pull_request_body([leaky], marker="m")
    assert "s3cr3t" not in commit_message("{reason}", [leaky], branch="b", plan_id="p")


def test_charts_are_called_charts_in_messages_and_bodies():
    from dataclasses import replace

    chart = change("apps/cert-manager.yaml", "https://charts.jetstack.io/cert-manager", "v1.16.2", "v1.17.0")
    chart = replace(chart, occurrence=replace(chart.occurrence, kind="chart", field=FieldKind.TAG))
    assert summary([chart]) == "Update chart https://charts.jetstack.io/cert-manager to v1.17.0"
    assert summary([chart, WEB, API]) == "Update 2 images and 1 chart"
    assert summary([chart, replace(chart, occurrence=replace(chart.occurrence, image="ghcr.io/org/charts/x"))]) == "Update 2 charts"
    assert pull_request_body([chart], marker="group=x").startswith("imagebot proposes **1 update** of 1 chart (")
    assert pull_request_body([chart, WEB], marker="m").startswith("imagebot proposes **2 updates** of 1 image and 1 chart (")
    assert pull_request_body([WEB, API], marker="m").startswith("imagebot proposes **2 updates** of 2 images (")


def test_message_prefix_leads_the_summary():
    assert commit_message(None, [WEB], branch="b", plan_id="p", prefix="chore(deps): ").startswith("chore(deps): Update ghcr.io/org/web to 1.1.0\n")
    assert summary([WEB, API], "apps/", prefix="build: ") == "build: Update 2 images in apps/"
