"""The local warehouse store (SQLite): schema, migrations and one module per table group.

It knows the domain (:mod:`sqsync.domain`) and nothing of Squarespace, the jobs or the
command line.

database.py     Store.open / transaction / migrations; time helpers
catalog.py      clients, warehouses, channels, products
owners.py       which client / warehouse a command means (one rule for every command)
stock.py        on_hand per client + warehouse + SKU; allocated and available
movements.py    the stock movement log: every change of on_hand, its source and reason
attention.py    what waits for a person (status --check)
orders.py       orders and their items (read side: listing and serialising)
order_writes.py orders and their items (write side: what import-orders stores)
order_actions.py hold, release, cancel, close, and their audit rows
changes.py      the order change feed (numbers given by triggers) for a WMS
shipments.py    shipments (read side)
despatches.py   shipments (write side: recording, push states)
recording.py    recording despatches from a feed or a command (a store-side service)
adjustments.py  the journal of stock adjustment batches and their Idempotency-Keys
stock_synced.py the figure each variant was last synced to (incremental stock syncs)
sync_state.py   per-connection key/value state (the import window's end)
runlog.py       one row per job run; the latest attempt of each job
pacing.py       each key's requests of the last minute, so pacing holds across processes
locks.py        the per-connection lease lock
"""

from sqsync.store.database import Store, now_text, parse_time, utc_text

__all__ = ["Store", "now_text", "parse_time", "utc_text"]
