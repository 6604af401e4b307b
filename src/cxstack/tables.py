"""Every table of cxstack, for migrations: each layer's ``models`` modules, imported explicitly."""

from __future__ import annotations

from sqlalchemy import MetaData

from cxstack.backbone import models as backbone_models
from cxstack.channels.email import models as email_models
from cxstack.channels.inapp import models as inapp_models
from cxstack.channels.numbers import models as number_models
from cxstack.channels.sms import models as sms_models
from cxstack.channels.voice import models as voice_models
from cxstack.channels.webchat import models as webchat_models
from cxstack.governance.audit import models as audit_models
from cxstack.governance.idempotency import models as idempotency_models
from cxstack.governance.staff import models as staff_models
from cxstack.governance.tenants import models as tenant_models
from cxstack.kit.orm import Base
from cxstack.records.accounts import models as account_models
from cxstack.records.cases import models as case_models
from cxstack.records.conversations import models as conversation_models
from cxstack.records.customers import models as customer_models
from cxstack.records.files import models as file_models
from cxstack.records.merges import models as merge_models
from cxstack.records.notes import models as note_models
from cxstack.records.tags import models as tag_models
from cxstack.records.timeline import models as timeline_models
from cxstack.routing import models as routing_models
from cxstack.routing.sla import models as sla_models
from cxstack.workspace.canned import models as canned_models
from cxstack.workspace.mentions import models as mention_models
from cxstack.workspace.views import models as view_models

MODEL_MODULES = (
    backbone_models,
    tenant_models,
    audit_models,
    idempotency_models,
    staff_models,
    customer_models,
    merge_models,
    account_models,
    case_models,
    note_models,
    tag_models,
    conversation_models,
    file_models,
    timeline_models,
    number_models,
    sms_models,
    email_models,
    webchat_models,
    inapp_models,
    voice_models,
    sla_models,
    routing_models,
    canned_models,
    view_models,
    mention_models,
)


def metadata() -> MetaData:
    return Base.metadata
