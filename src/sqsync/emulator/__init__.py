"""A local emulator of the Squarespace Commerce APIs (orders, fulfilments, inventory).

It serves the same endpoints, validation and error envelopes as the real API over real
HTTP on loopback, so the tests, ``make demo`` and users' trial runs exercise the client
exactly as production would, and it can inject faults real servers only produce at 3 a.m.

    from sqsync.emulator import Emulator, EmulatorState

    with Emulator(EmulatorState.generate(orders=200, variants=60, seed=1)) as emu:
        print(emu.url, emu.api_key)

Modules: :mod:`.server` (HTTP), :mod:`.state` (the shop and its operations),
:mod:`.validation` (request checks), :mod:`.wire` (envelopes, timestamps, cursors),
:mod:`.faults` (injected failures), :mod:`.generate` (seeded realistic data),
:mod:`.shop_file` (checks on a saved shop), :mod:`.admin` (the merchant's side: change
orders while it serves).
"""

from sqsync.emulator.faults import FAULT_KINDS, Fault, Faults
from sqsync.emulator.server import Emulator
from sqsync.emulator.state import EmulatorState, KeyInfo, Stats

__all__ = ["FAULT_KINDS", "Emulator", "EmulatorState", "Fault", "Faults", "KeyInfo", "Stats"]
