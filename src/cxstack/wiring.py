"""The composition root: the one place that lists every event type and every subscription.

Each layer declares its event types in its ``schemas.py`` (``EVENT_TYPES``) and its subscriptions in its
``handlers.py`` (``register``). Nothing is registered by importing a module.
"""

from __future__ import annotations

from cxstack.backbone.catalog import EventCatalog
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.governance.tenants import schemas as tenant_schemas
from cxstack.records.customers import schemas as customer_schemas


def build_catalog() -> EventCatalog:
    """Return the catalog of every event type cxstack publishes."""
    return EventCatalog(
        [
            *tenant_schemas.EVENT_TYPES,
            *customer_schemas.EVENT_TYPES,
        ]
    )


def build_subscriptions() -> SubscriptionRegistry:
    """Return every subscription of cxstack, registered by each layer's ``handlers.register``."""
    registry = SubscriptionRegistry()
    return registry
