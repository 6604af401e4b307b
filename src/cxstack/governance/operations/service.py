"""Operating the event backbone: retrying dead letters, audited."""

from __future__ import annotations

from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.inspection import RetryOutcome, retry_dead_letter_by_id
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.service import record_audit


def retry_dead_letter(
    uow: UnitOfWork,
    *,
    registry: SubscriptionRegistry,
    policy: RetryPolicy,
    tenant_id: str | None,
    dead_letter_id: int,
) -> RetryOutcome:
    """Run a dead letter's handler once more and return the outcome; writes an audit entry.

    ``tenant_id`` None is the operator, who may retry any tenant's. Raises NotFound (also for another
    tenant's dead letter), Conflict when its subscription is not registered in this process.
    """
    outcome = retry_dead_letter_by_id(
        uow, registry=registry, policy=policy, tenant_id=tenant_id, dead_letter_id=dead_letter_id
    )
    record_audit(
        uow,
        tenant_id=outcome.tenant_id,
        action="dead_letter.retried",
        target_type="dead_letter",
        target_id=str(outcome.dead_letter_id),
        detail={
            "subscription": outcome.subscription,
            "event_id": outcome.event_id,
            "succeeded": outcome.succeeded,
        },
    )
    return outcome
