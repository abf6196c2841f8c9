"""`plan --json` and `run --json` as printed (imagebot.report.summary.dumps)."""

from __future__ import annotations


def test_a_cycles_json_reads_back_as_the_document_one_list_item_per_line() -> None:
    """`plan --json` / `run --json`: the same document as `json.dumps` gives, with each list item
    on a line of its own (readable, and written by the C encoder)."""
    import json

    from imagebot.report.summary import dumps

    doc = {"plan_id": "p1", "dry_run": True, "counts": {"changes": 2},
           "changes": [{"image": "ghcr.io/o/a", "new": "1.1", "why": "best of 2 ✓"}, {"image": "b", "nested": [1, {"x": None}]}],
           "unchanged": [], "diff": "--- a/x\n+++ b/x\n", "delivery": None}
    out = dumps(doc)
    assert json.loads(out) == doc
    assert list(json.loads(out)) == list(doc)  # the keys' order kept
    lines = out.splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    assert '    {"image": "ghcr.io/o/a", "new": "1.1", "why": "best of 2 \\u2713"},' in lines
    assert '  "unchanged": [],' in lines
    assert json.loads(dumps({})) == {}
