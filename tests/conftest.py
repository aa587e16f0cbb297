"""Shared pytest fixtures.

``emulator``: a running Squarespace emulator with a few variants and no orders, rate limit
off; parametrize it indirectly to change that::

    @pytest.mark.parametrize("emulator", [{"rate_limit_per_minute": 5}], indirect=True)

``make_emulator(state=None, *, orders=0, variants=6, seed=1, **emulator_options)``:
more emulators, each stopped after the test.
``emulator_http``: an httpx client for ``emulator`` sending its key and a User-Agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sqsync.emulator import Emulator, EmulatorState

MakeEmulator = Callable[..., Emulator]


@pytest.fixture
def make_emulator() -> Iterator[MakeEmulator]:
    started: list[Emulator] = []

    def make(
        state: EmulatorState | None = None,
        *,
        orders: int = 0,
        variants: int = 6,
        seed: int = 1,
        **options: Any,
    ) -> Emulator:
        if state is None:
            state = EmulatorState.generate(orders=orders, variants=variants, seed=seed)
        options.setdefault("rate_limit_per_minute", 0)
        emulator = Emulator(state, **options).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(request: pytest.FixtureRequest, make_emulator: MakeEmulator) -> Emulator:
    return make_emulator(**getattr(request, "param", {}))


@pytest.fixture
def emulator_http(emulator: Emulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {emulator.api_key}", "User-Agent": "sqsync-tests/1"}
    with httpx.Client(base_url=emulator.url, headers=headers, timeout=10) as client:
        yield client
