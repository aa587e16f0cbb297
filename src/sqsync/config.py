"""Load and validate the TOML config: the store path, shipping zones and connections.

The file is found by ``--config PATH``, else ``$SQSYNC_CONFIG``, else ``./sqsync.toml`` (the
CLI root resolves that; :func:`load_config` takes the path). Validation is strict: an unknown
key is an error, so a typo such as ``stock_synk`` fails loudly instead of silently meaning
"default". Every problem becomes one :class:`~sqsync.errors.ConfigError` line naming the file,
the connection and the key, e.g.::

    sqsync.toml: connection "acme": frequency: must be minutes (15) or "15m"/"1h", got "soon"

API keys are resolved lazily by :meth:`Connection.api_key`, so listing orders never needs
one; an inline key is held as a :class:`~pydantic.SecretStr` and never appears in a repr.
Commands that talk to Squarespace call :meth:`Config.resolve_keys` first: a missing key is a
config error before anything is sent, and so are two connections with one key (one
Squarespace site is one connection).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sqsync.domain.limits import MAX_QUANTITY, MAX_SHIPMENT_FIELD
from sqsync.domain.stock_rules import RULE_FIELDS, StockRule
from sqsync.errors import ConfigError

if TYPE_CHECKING:
    from sqsync.domain.orders import Courier

log = logging.getLogger("sqsync.config")

DEFAULT_API_URL = "https://api.squarespace.com"
# Squarespace's Order.paymentState enum; its `paymentStates` filter rejects other values.
PAYMENT_STATES = frozenset(
    {
        "NOT_CHARGED",
        "AUTHORIZED",
        "PAID",
        "REFUNDED",
        "PENDING",
        "FAILED",
        "REFUND_PENDING",
        "REFUND_FAILED",
        "PARTIALLY_PAID",
    }
)
DEFAULT_PAYMENT_STATES = ("PAID", "AUTHORIZED", "NOT_CHARGED")
_KEY_SOURCES = ("api_key", "api_key_env", "api_key_file")
_DURATION = re.compile(r"(\d+)\s*([mh])")
# How often a job may run: from every minute (cron's finest tick) to once a week.
MAX_MINUTES = 7 * 24 * 60
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _minutes(value: Any) -> int:
    """15, "15m" or "1h" -> whole minutes (> 0)."""
    problem = 'must be minutes (15) or "15m"/"1h"'
    if isinstance(value, bool):
        raise _fail("minutes", problem)
    if isinstance(value, int):
        minutes = value
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        minutes = int(match[1]) * (60 if match[2] == "h" else 1)
    else:
        raise _fail("minutes", problem)
    if not 1 <= minutes <= MAX_MINUTES:
        raise _fail(
            "minutes", f"must be at least 1 minute and at most 7 days ({MAX_MINUTES} minutes)"
        )
    return minutes


def _aware_utc(value: Any) -> Any:
    """An ISO-8601 string or TOML datetime with a timezone -> UTC datetime."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        raise _fail("datetime", 'must be an ISO-8601 time such as "2026-01-01T00:00:00Z"')
    if value.tzinfo is None or value.utcoffset() is None:
        raise _fail("datetime", 'must include a timezone, e.g. "2026-01-01T00:00:00Z"')
    return value.astimezone(UTC)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail("url", 'must be an http(s) URL such as "https://api.squarespace.com"')
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        # The key travels in a header: plain http is only for the local emulator.
        raise _fail("url", "must use https (plain http is allowed only for loopback hosts)")
    return value.rstrip("/")


def _label(value: Any) -> Any:
    """A shipping method, carrier or service name: one line of text, no surrounding spaces,
    at most :data:`MAX_SHIPMENT_FIELD` characters (what Squarespace takes for each)."""
    if not isinstance(value, str):
        return value  # strict validation then says it must be a string
    if not value.strip() or value != value.strip() or not value.isprintable():
        raise _fail("label", "must be one line of text with no leading or trailing spaces")
    if len(value) > MAX_SHIPMENT_FIELD:
        raise _fail("label", f"must be at most {MAX_SHIPMENT_FIELD} characters")
    return value


Minutes = Annotated[int, BeforeValidator(_minutes)]
UtcTime = Annotated[datetime, BeforeValidator(_aware_utc)]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Text = Annotated[str, Field(min_length=1)]
# A stock figure: a whole number of units, 0 to the most one stock line may hold.
Units = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]
Label = Annotated[str, BeforeValidator(_label)]
# The key of courier_map's fallback: every shipping method the map does not name.
COURIER_DEFAULT = "default"


def _default_path() -> Path:
    # a factory: a default Path would be deep-copied for every connection (pydantic copies
    # defaults it does not know immutable), 4 ms of loading 200 connections
    return Path("sqsync.toml")


class _Strict(BaseModel):
    # strict: true stays a bool and 15 an int; "15" is not silently accepted as a number.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


STORE_URL_ENV = "SQSYNC_STORE_URL"


def _store_url(value: str, where: str) -> str:
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError(
            f"{where} must be a postgresql://user@host/database URL (SQLite takes [store] path)"
        )
    if urlsplit(value).password:
        # A password here would be printed in messages and copied into every backup.
        raise ValueError(f"{where} holds a password: put it in ~/.pgpass or PGPASSWORD instead")
    return value


class StoreSettings(_Strict):
    """``[store]``: where the store lives (a SQLite file, or a PostgreSQL database by URL)
    and how long the run log keeps its rows."""

    path: Text = "sqsync.db"
    url: Text | None = None
    # At frequency = 1 the run log gains ~4,300 rows a day per connection; `run` prunes
    # rows older than this (each job's latest attempt is always kept).
    run_log_days: Annotated[int, Field(ge=1, le=3650)] = 30

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _store_url(value, "url")

    @model_validator(mode="after")
    def _one_place(self) -> StoreSettings:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("give path (SQLite) or url (PostgreSQL), not both")
        return self


def _zero_below_within_cap(
    zero_below: int, cap: int | None, sku: str | None = None, own: frozenset[str] = frozenset()
) -> None:
    """Refuse zero_below > cap: the shop could then only ever show 0 or the cap, which is
    almost surely two values swapped, not a policy anyone means. For the override of
    ``sku``, ``own`` names the fields it sets, so the message says which value is inherited."""
    if cap is None or zero_below <= cap:
        return
    outcome = f"so the shop could only ever show 0 or {cap}"
    if sku is None:
        raise _fail(
            "stock_rules",
            f"stock_zero_below: {zero_below} is above stock_cap ({cap}), {outcome}; make it at "
            "most stock_cap (are the two swapped?)",
        )

    def value(name: str, connection_key: str, number: int) -> str:
        return f"{name} {number}" + ("" if name in own else f" (the connection's {connection_key})")

    raise _fail(
        "stock_rules",
        f"stock_rules.{sku}: {value('zero_below', 'stock_zero_below', zero_below)} is above "
        f"{value('cap', 'stock_cap', cap)}, {outcome}; make zero_below at most the cap",
    )


class SkuRule(_Strict):
    """One ``[connections.stock_rules."SKU"]`` table: what differs for that warehouse SKU
    from the connection's stock_buffer, stock_cap and stock_zero_below."""

    buffer: Units | None = None
    cap: Units | None = None
    zero_below: Units | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> SkuRule:
        if all(getattr(self, name) is None for name in RULE_FIELDS):
            raise _fail(
                "stock_rules",
                "an override must set at least one of buffer, cap or zero_below "
                "(remove the table to use the connection's settings)",
            )
        return self


class CourierChoice(_Strict):
    """One ``courier_map`` entry: the carrier and service a shipping method ships by."""

    carrier: Label
    service: Label

    def courier(self) -> Courier:
        from sqsync.domain.orders import Courier  # not on the start of every command

        return Courier(self.carrier, self.service)


class Connection(_Strict):
    """One ``[[connections]]`` entry: a Squarespace site feeding one client and warehouse."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$", max_length=64)]
    client: Text = "default"
    warehouse: Text
    channel: Text = "Squarespace"
    # Read from the TOML key ``api_key``; the attribute name is free for the api_key() method.
    inline_key: SecretStr | None = Field(default=None, alias="api_key", repr=False)
    api_key_env: Text | None = None
    api_key_file: Text | None = None
    api_url: str = DEFAULT_API_URL
    active: bool = True
    frequency: Minutes = 15
    shipping_zone: Text | None = None
    order_prefix: str = ""
    stock_sync: bool = False
    stock_sync_frequency: Minutes = 60
    # Every stock sync in between reads only the variants whose figure changed; this often
    # (and whenever that state is in doubt) one reads every page, to correct edits made in
    # Squarespace itself.
    stock_full_sync_frequency: Minutes = 1440
    stock_buffer: Units = 0
    # A cap of 0 is allowed: it means "advertise none" (e.g. stock kept for wholesale),
    # which is as deliberate a setting as any other number.
    stock_cap: Units | None = None
    stock_zero_below: Units = 0
    # Keyed by WAREHOUSE SKU (what sku_aliases maps to), not the Squarespace SKU.
    stock_rules: dict[Text, SkuRule] = Field(default_factory=dict)
    notify_customer: bool = True
    payment_states: list[str] = Field(default_factory=lambda: list(DEFAULT_PAYMENT_STATES))
    import_test_orders: bool = False
    import_from: UtcTime | None = None
    sku_aliases: dict[Text, Text] = Field(default_factory=dict)
    # Squarespace shipping method name (exact) -> carrier and service; "default" for the rest.
    courier_map: dict[Label, CourierChoice] = Field(default_factory=dict)

    _shipping_countries: frozenset[str] | None = PrivateAttr(default=None)
    _config_file: Path = PrivateAttr(default_factory=_default_path)
    _stock_pool: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _api_url(value)

    @field_validator("api_key_env")
    @classmethod
    def _check_env_name(cls, value: str | None) -> str | None:
        # A key pasted here must not be echoed back: the message never shows the value.
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise _fail(
                "api_key_env",
                "must be the name of an environment variable (letters, digits and _, such "
                "as ACME_SQUARESPACE_KEY), not a key; export the key in that variable",
            )
        return value

    @field_validator("payment_states")
    @classmethod
    def _check_payment_states(cls, value: list[str]) -> list[str]:
        if not value:
            raise _fail("payment_states", "must name at least one payment state")
        unknown = [state for state in value if state not in PAYMENT_STATES]
        if unknown:
            raise _fail(
                "payment_states",
                f"unknown payment state {unknown[0]!r}; choose from "
                + ", ".join(sorted(PAYMENT_STATES)),
            )
        return value

    @field_validator("courier_map")
    @classmethod
    def _check_courier_map(cls, value: dict[str, CourierChoice]) -> dict[str, CourierChoice]:
        if not value:
            raise _fail(
                "courier_map",
                "must map at least one shipping method (remove it to leave orders unmapped)",
            )
        return value

    @model_validator(mode="after")
    def _check_stock_rules(self) -> Connection:
        _zero_below_within_cap(self.stock_zero_below, self.stock_cap)
        aliased = set(self.sku_aliases) - set(self.sku_aliases.values())
        for sku in self.stock_rules:
            if sku in aliased:
                # A Squarespace SKU here would never match: the planner looks up warehouse SKUs.
                raise _fail(
                    "stock_rules",
                    f"stock_rules.{sku}: keys are warehouse SKUs, and {sku!r} is a Squarespace "
                    f"SKU that sku_aliases maps to {self.sku_aliases[sku]!r}; key the override "
                    f'"{self.sku_aliases[sku]}" instead',
                )
            given = self._overridden(sku)
            _zero_below_within_cap(
                given.get("zero_below", self.stock_zero_below),
                given.get("cap", self.stock_cap),
                sku,
                frozenset(given),
            )
        return self

    @model_validator(mode="after")
    def _one_key_source(self) -> Connection:
        values = (self.inline_key, self.api_key_env, self.api_key_file)
        given = [key for key, value in zip(_KEY_SOURCES, values, strict=True) if value is not None]
        if len(given) != 1:
            found = " and ".join(given) if given else "none"
            raise _fail(
                "api_key",
                "api_key: give exactly one of api_key, api_key_env or api_key_file "
                f"(found {found})",
            )
        return self

    def couriers(self) -> tuple[dict[str, Courier], Courier | None]:
        """``courier_map`` as (carrier and service by shipping method, the default or None)."""
        by_method = {k: v.courier() for k, v in self.courier_map.items() if k != COURIER_DEFAULT}
        default = self.courier_map.get(COURIER_DEFAULT)
        return by_method, (default.courier() if default is not None else None)

    @property
    def shipping_countries(self) -> frozenset[str] | None:
        """The ISO country codes of ``shipping_zone``; None when every country is accepted."""
        return self._shipping_countries

    @property
    def stock_pool(self) -> tuple[str, ...]:
        """The active connections selling this one's stock (same client and warehouse),
        itself included: a sale in any of them lowers what every one may advertise."""
        return self._stock_pool or (self.name,)

    def stock_rule(self, sku: str) -> StockRule:
        """The stock feed rule for warehouse SKU ``sku``: its ``stock_rules`` override where
        it sets a field, else the connection's stock_buffer, stock_cap and stock_zero_below."""
        given = self._overridden(sku)
        return StockRule(
            buffer=given.get("buffer", self.stock_buffer),
            cap=given.get("cap", self.stock_cap),
            zero_below=given.get("zero_below", self.stock_zero_below),
            overridden=frozenset(given),
        )

    def _overridden(self, sku: str) -> dict[str, int]:
        """The fields the override of ``sku`` sets (none when it has no override)."""
        override = self.stock_rules.get(sku)
        if override is None:
            return {}
        return {n: v for n in RULE_FIELDS if (v := getattr(override, n)) is not None}

    @property
    def label(self) -> str:
        return f'connection "{self.name}"'

    def key_file(self) -> Path | None:
        """Where ``api_key_file`` points (relative to the config's folder), or None."""
        if self.api_key_file is None:
            return None
        return Path(
            os.path.normpath(self._config_file.parent / Path(self.api_key_file).expanduser())
        )

    def api_key(self) -> str:
        """The API key, read now from the inline value, the environment or the key file."""
        where = f"{self._config_file}: {self.label}"
        if self.inline_key is not None:
            return _printable_key(self.inline_key.get_secret_value().strip(), f"{where}: api_key")
        if self.api_key_env is not None:
            value = os.environ.get(self.api_key_env, "").strip()
            if not value:
                raise ConfigError(
                    f"{where}: api_key_env: environment variable {self.api_key_env} "
                    "is not set or empty"
                )
            return _printable_key(value, f"{where}: api_key_env: {self.api_key_env}")
        key_file = self.key_file() or self._config_file.parent
        try:
            value = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise ConfigError(f"{where}: api_key_file: cannot read {key_file}: {reason}") from None
        if not value:
            raise ConfigError(f"{where}: api_key_file: {key_file} is empty")
        return _printable_key(value, f"{where}: api_key_file: {key_file}")


_KEY_CHARACTERS = re.compile(r"[\x21-\x7e]+")


def _printable_key(value: str, where: str) -> str:
    # A key with a space, a newline or a pasted non-ASCII character cannot go in an HTTP
    # header; httpx's error would then echo the header, key and all, so refuse it here
    # without ever showing it.
    if not _KEY_CHARACTERS.fullmatch(value):
        raise ConfigError(
            f"{where}: the API key contains a space, a line break or a non-ASCII character "
            "(often from copy and paste); paste it again"
        )
    return value


class Config(_Strict):
    """The whole file. ``path`` is the file it came from; relative paths resolve against it."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    shipping_zones: dict[Text, list[CountryCode]] = Field(default_factory=dict)
    connections: list[Connection] = Field(default_factory=list)

    _path: Path = PrivateAttr(default_factory=_default_path)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def store_path(self) -> Path:
        return self._path.parent / Path(self.store.path).expanduser()

    @property
    def store_location(self) -> Path | str:
        """Where the store is: ``SQSYNC_STORE_URL`` when set (so each host's cron can
        name the shared database without editing the file), else ``[store] url``, else
        the SQLite file at ``[store] path``."""
        from_env = os.environ.get(STORE_URL_ENV)
        if from_env:
            try:
                return _store_url(from_env, STORE_URL_ENV)
            except ValueError as error:
                raise ConfigError(str(error)) from None
        if self.store.url is not None:
            return self.store.url
        return self.store_path

    def clients(self) -> list[str]:
        """The client codes the connections name, sorted."""
        return sorted({c.client for c in self.connections})

    def warehouses(self) -> list[str]:
        """The warehouse codes the connections name, sorted."""
        return sorted({c.warehouse for c in self.connections})

    def connection(self, name: str) -> Connection:
        for connection in self.connections:
            if connection.name == name:
                return connection
        known = ", ".join(c.name for c in self.connections) or "none"
        raise ConfigError(f"{self._path}: no connection named {name!r} (configured: {known})")

    def select(
        self, names: Sequence[str] = (), *, stock_sync_only: bool = False
    ) -> list[Connection]:
        """The connections a job runs for: those named, else every active one.

        A named connection runs even when inactive (an operator asked for it), but a
        stock-sync job refuses one with ``stock_sync = false`` rather than silently skip it.
        """
        if not names:
            return [
                c for c in self.connections if c.active and (c.stock_sync or not stock_sync_only)
            ]
        chosen = [self.connection(name) for name in dict.fromkeys(names)]
        if stock_sync_only:
            for connection in chosen:
                if not connection.stock_sync:
                    raise ConfigError(
                        f"{self._path}: connection {connection.name} has stock_sync = false; "
                        "set stock_sync = true to sync its stock"
                    )
        return chosen

    def resolve_keys(self, selected: Sequence[Connection]) -> None:
        """Resolve every selected connection's key now, before anything is sent.

        A selected connection whose key cannot be read is a ConfigError (exit 2). The other
        connections' keys are read too where they can be, and two connections with the same
        key are a ConfigError naming both (never the key): one Squarespace site is one
        connection, and two connections of one site would import each order twice.
        """
        chosen = {c.name for c in selected}
        seen: dict[bytes, str] = {}
        for connection in [*selected, *(c for c in self.connections if c.name not in chosen)]:
            try:
                key = connection.api_key()
            except ConfigError:
                if connection.name in chosen:
                    raise
                continue  # not needed now (its variable may be set only where it runs)
            # Only a digest is kept, so no second copy of a key lingers here.
            digest = hashlib.sha256(key.encode()).digest()
            other = seen.setdefault(digest, connection.name)
            if other != connection.name:
                first, second = sorted((other, connection.name))
                raise ConfigError(
                    f'{self._path}: connections "{first}" and "{second}" use the same API '
                    "key: one Squarespace site is one connection, so remove one of them (to "
                    "rename a connection, see `sqsync connections rename`)"
                )


def load_config(path: Path | str) -> Config:
    """Read, parse and validate the config file at ``path``; ConfigError if anything is wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (give --config PATH or set SQSYNC_CONFIG)"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the config file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(path, data, error)) from None
    config._path = path
    # Grouped once, and one tuple shared by a pool's active connections: a thousand shops
    # of one client cost a thousand steps here, not a million.
    pools: dict[tuple[str, str], list[Connection]] = {}
    for connection in config.connections:
        pools.setdefault((connection.client, connection.warehouse), []).append(connection)
    for pool in pools.values():
        active = tuple(c.name for c in pool if c.active)
        for connection in pool:
            connection._stock_pool = (
                active
                if connection.active
                else tuple(c.name for c in pool if c.active or c is connection)
            )
    _check_across_connections(path, config)
    if any(c.inline_key is not None for c in config.connections):
        _warn_if_readable(path)
    return config


def _check_across_connections(path: Path, config: Config) -> None:
    seen_names: set[str] = set()
    prefixes: dict[tuple[str, str], str] = {}
    key_sources: dict[tuple[str, str], str] = {}
    for connection in config.connections:
        where = f"{path}: {connection.label}"
        if connection.name in seen_names:
            raise ConfigError(f"{where}: name: another connection already uses this name")
        seen_names.add(connection.name)
        connection._config_file = path
        key = (connection.client, connection.order_prefix)
        if key in prefixes:
            raise ConfigError(
                f"{where}: order_prefix: {connection.order_prefix!r} is also used by connection "
                f'"{prefixes[key]}" of client {connection.client}; order numbers are unique per '
                "client, so give each connection its own prefix"
            )
        prefixes[key] = connection.name
        if connection.shipping_zone is not None:
            countries = config.shipping_zones.get(connection.shipping_zone)
            if countries is None:
                known = ", ".join(sorted(config.shipping_zones)) or "none defined"
                raise ConfigError(
                    f"{where}: shipping_zone: no [shipping_zones] entry named "
                    f"{connection.shipping_zone!r} (known: {known})"
                )
            connection._shipping_countries = frozenset(countries)
        source = _key_source(connection)
        if source is not None:
            if source in key_sources:
                raise ConfigError(
                    f'{where}: {source[0]}: connection "{key_sources[source]}" reads its key '
                    "from the same place: one Squarespace site is one connection, so remove "
                    "one of them or give each its own key"
                )
            key_sources[source] = connection.name


def _key_source(connection: Connection) -> tuple[str, str] | None:
    """Where a connection's key comes from, comparable across connections (None: inline)."""
    if connection.api_key_env is not None:
        return ("api_key_env", connection.api_key_env)
    key_file = connection.key_file()
    return ("api_key_file", str(key_file)) if key_file is not None else None


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        log.warning(
            "%s holds an inline api_key but group or others can read it: run `chmod 600 %s` "
            "or use api_key_env instead",
            path,
            path,
        )


def _describe(path: Path, data: dict[str, Any], error: ValidationError) -> str:
    """The first validation problem as one line: file, connection, key, what is wrong."""
    problems = error.errors(include_url=False)
    first = problems[0]
    loc = list(first["loc"])
    where = [str(path)]
    if loc[:1] == ["connections"] and len(loc) >= 2 and isinstance(loc[1], int):
        index = loc[1]
        entries = data.get("connections")
        entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where.append(f'connection "{name}"' if isinstance(name, str) else f"connections[{index}]")
        loc = loc[2:]
    # Pydantic adds the validator kind to some locations (e.g. "function-before"); drop it.
    key = ".".join(str(part) for part in loc if not str(part).startswith("function-"))
    message = _message(first, secret="api_key" in key or key in ("url", "store.url"))
    if key and not message.startswith(f"{key}:"):
        where.append(key)
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return ": ".join([*where, message]) + more


def _message(problem: Any, *, secret: bool) -> str:
    kind = problem["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against config.example.toml)"
    if kind == "missing":
        return "required"
    message = problem["msg"]
    message = message[:1].lower() + message[1:]
    value = problem.get("input")
    # Never echo what was given for a key field: it may be the secret itself.
    if not secret and isinstance(value, str | int | float | bool | datetime):
        message += f", got {value!r}" if not isinstance(value, str) else f', got "{value}"'
    return message
