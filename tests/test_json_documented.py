"""`--json` is documented (issue 6 rule 8): every count a job reports is in the README.

A key added to a job without its line in README's "Output for scripts" fails here, so the
documentation of the pipeline interface cannot fall behind the code.
"""

import re
from pathlib import Path

import pytest

from sqsync.jobs import import_orders, push_despatch, sync_stock

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def documented_counts(job: str) -> set[str]:
    match = re.search(rf"^- {job} counts: (.+?)(?=^- |^\n)", README, re.M | re.S)
    assert match, f"README has no '- {job} counts:' line"
    return set(re.findall(r"`([a-z_]+)`", match[1]))


@pytest.mark.parametrize(
    ("job", "counts"),
    [
        ("import-orders", import_orders.COUNTS),
        ("sync-stock", sync_stock.COUNTS),
        ("push-despatch", push_despatch.COUNTS),
    ],
)
def test_every_count_a_job_reports_is_documented(job, counts):
    assert set(counts) <= documented_counts(job)


def test_the_common_keys_are_documented():
    for key in ("connection", "job", "ok", "dry_run", "requests", "error", "context_id"):
        assert f"`{key}`" in README
