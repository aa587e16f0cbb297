"""sqsync: connect Squarespace stores to a warehouse.

Three jobs, each a library function taking a Squarespace client and a store:
``import-orders``, ``sync-stock`` and ``push-despatch``. The command line in
:mod:`sqsync.cli` is a thin layer over them.
"""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/sqsync/sqsync"
