"""A tenant's phone menu: storing it, and finding the option a caller chose by keypad or by voice."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.voice.models import VoiceIvr
from cxstack.channels.voice.repository import VoiceRepository
from cxstack.channels.voice.schemas import IvrDefinition, IvrOption, IvrOut, MenuInput
from cxstack.kit.ids import new_id

#: What callers hear until the tenant sets a menu of its own.
DEFAULT_IVR = IvrDefinition(
    greeting="Thank you for calling.",
    options=[
        IvrOption(
            key="support",
            digit="1",
            keywords=["support", "help", "agent", "someone"],
            prompt="To speak with someone, press 1 or say support.",
            queue="support",
        ),
        IvrOption(
            key="voicemail",
            digit="2",
            keywords=["voicemail", "message"],
            prompt="To leave a message, press 2 or say message.",
            action="voicemail",
        ),
    ],
)


def tenant_ivr(session: Session, *, tenant_id: str) -> IvrDefinition:
    """Return the tenant's menu, or the default one."""
    row = VoiceRepository(session, tenant_id).ivr()
    if row is None:
        return DEFAULT_IVR
    return IvrDefinition(greeting=row.greeting, options=row.options, voicemail_prompt=row.voicemail_prompt)


def get_ivr(session: Session, *, tenant_id: str) -> IvrOut:
    row = VoiceRepository(session, tenant_id).ivr()
    if row is None:
        return IvrOut(**DEFAULT_IVR.model_dump(), configured=False, updated_at=None)
    return IvrOut(
        greeting=row.greeting,
        options=row.options,
        voicemail_prompt=row.voicemail_prompt,
        configured=True,
        updated_at=row.updated_at,
    )


def set_ivr(uow: UnitOfWork, *, tenant_id: str, data: IvrDefinition) -> IvrOut:
    """Replace the tenant's menu; calls already in the menu hear the new one from their next prompt."""
    repo = VoiceRepository(uow.session, tenant_id)
    row = repo.ivr()
    now = uow.clock.now()
    options = [option.model_dump() for option in data.options]
    if row is None:
        row = VoiceIvr(
            id=new_id("ivr"),
            tenant_id=tenant_id,
            greeting=data.greeting,
            options=options,
            voicemail_prompt=data.voicemail_prompt,
            updated_at=now,
        )
        uow.session.add(row)
    else:
        row.greeting, row.options, row.voicemail_prompt, row.updated_at = (
            data.greeting,
            options,
            data.voicemail_prompt,
            now,
        )
    uow.session.flush()
    return IvrOut(**data.model_dump(), configured=True, updated_at=now)


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[\w']+", text.lower())) + " "


def choose_option(ivr: IvrDefinition, given: MenuInput) -> IvrOption | None:
    """Return the option the caller chose: the one of the first key pressed, else the first option one of
    whose keywords (a whole word or phrase) was said, else None."""
    if given.digits:
        for option in ivr.options:
            if option.digit == given.digits[0]:
                return option
    if given.speech:
        said = _words(given.speech)
        for option in ivr.options:
            if any(_words(keyword) in said for keyword in [*option.keywords, option.key]):
                return option
    return None
