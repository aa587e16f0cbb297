"""The local warehouse store (SQLite): schema, migrations and one module per table group.

database.py    Store.open / transaction / migrations; time helpers
catalog.py     clients, warehouses, channels, products
stock.py       on_hand per client + warehouse + SKU; allocated and available
orders.py      orders and their items (read side: listing and serialising)
shipments.py   shipments (read side)
sync_state.py  per-connection key/value state (import windows, due times)
runlog.py      one row per job run
"""

from sqsync.store.database import Store, now_text, parse_time, utc_text

__all__ = ["Store", "now_text", "parse_time", "utc_text"]
