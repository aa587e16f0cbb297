"""A typed client for the Squarespace Commerce APIs (orders, fulfilments, inventory).

    from sqsync.squarespace import Client

    with Client(api_key) as client:
        for order in client.iter_orders(fulfillment_status="PENDING"):
            ...

Errors are in :mod:`sqsync.squarespace.errors`; models in :mod:`sqsync.squarespace.models`;
test doubles (a fake clock, JSON builders) in :mod:`sqsync.squarespace.testing`.
"""

from sqsync.squarespace.client import USER_AGENT, Client
from sqsync.squarespace.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    SquarespaceError,
    TransportError,
    UnexpectedResponseError,
    WebsiteExpiredError,
)
from sqsync.squarespace.models import (
    Address,
    ErrorEnvelope,
    Fulfillment,
    FulfilmentShipment,
    InvalidRecord,
    InventoryItem,
    InventoryPage,
    LineItem,
    LineItemType,
    Money,
    Order,
    OrderPage,
    ShippingLine,
    StockOperation,
    VariantOption,
)

__all__ = [
    "USER_AGENT",
    "Address",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "ErrorEnvelope",
    "Fulfillment",
    "FulfilmentShipment",
    "InvalidRecord",
    "InvalidRequestError",
    "InventoryItem",
    "InventoryPage",
    "LineItem",
    "LineItemType",
    "Money",
    "NotFoundError",
    "Order",
    "OrderPage",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "ShippingLine",
    "SquarespaceError",
    "StockOperation",
    "TransportError",
    "UnexpectedResponseError",
    "VariantOption",
    "WebsiteExpiredError",
]
