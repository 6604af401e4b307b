"""The composition root: the one place that lists every event type and every subscription.

Each layer declares its event types in its ``schemas.py`` (``EVENT_TYPES``) and its subscriptions in its
``handlers.py`` (``register``). Nothing is registered by importing a module.
"""

from __future__ import annotations

from cxstack.backbone.catalog import EventCatalog
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.governance.tenants import schemas as tenant_schemas
from cxstack.records.accounts import schemas as account_schemas
from cxstack.records.cases import schemas as case_schemas
from cxstack.records.conversations import schemas as conversation_schemas
from cxstack.records.customers import schemas as customer_schemas
from cxstack.records.merges import schemas as merge_schemas
from cxstack.records.notes import schemas as note_schemas
from cxstack.records.tags import schemas as tag_schemas
from cxstack.records.timeline import handlers as timeline_handlers


def build_catalog() -> EventCatalog:
    """Return the catalog of every event type cxstack publishes."""
    return EventCatalog(
        [
            *tenant_schemas.EVENT_TYPES,
            *customer_schemas.EVENT_TYPES,
            *merge_schemas.EVENT_TYPES,
            *account_schemas.EVENT_TYPES,
            *case_schemas.EVENT_TYPES,
            *note_schemas.EVENT_TYPES,
            *tag_schemas.EVENT_TYPES,
            *conversation_schemas.EVENT_TYPES,
        ]
    )


def build_subscriptions() -> SubscriptionRegistry:
    """Return every subscription of cxstack, registered by each layer's ``handlers.register``."""
    registry = SubscriptionRegistry()
    timeline_handlers.register(registry)
    return registry
