"""`make demo` runs in CI (.ci/run); this runs the same module on a small shop.

It starts about fifteen `sqsync` subprocesses (6-20 s depending on the machine's load),
so it is marked long: `make test-long` runs it, and CI runs the real `make demo`.
"""

import pytest

from sqsync.demo import main


@pytest.mark.long
def test_demo_runs_the_whole_loop_on_a_small_shop(tmp_path, capsys, monkeypatch, store_backend):
    monkeypatch.delenv("SQSYNC_CONFIG", raising=False)
    code = main(["--orders", "30", "--variants", "12", "--despatch", "3", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    for command in (
        "$ sqsync check",
        "$ sqsync stock import stock.csv",
        "$ sqsync run --force",
        "$ sqsync despatch import despatched.csv",
        "$ sqsync push-despatch",
        "$ sqsync status",
    ):
        assert command in out
    assert out.count("FULFILLED") == 3
    if store_backend is None:
        assert (tmp_path / "sqsync.db").is_file()
    else:  # the PostgreSQL pass's SQSYNC_STORE_URL reached the demo's commands
        from sqsync.store import Store

        with Store.open(store_backend) as store:
            assert store.conn.execute("SELECT count(*) FROM orders").fetchone()[0] > 0
