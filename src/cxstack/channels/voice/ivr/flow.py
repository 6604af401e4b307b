"""The menu's flow: what a caller's answer to the phone menu does with their call (queues it, takes a
voicemail, or asks again)."""

from __future__ import annotations

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.voice.calls.service import call_refs, known_call, post_call_message, publish_call_event
from cxstack.channels.voice.ivr.menus import choose_option, tenant_ivr
from cxstack.channels.voice.models import VoiceCall
from cxstack.channels.voice.plugins.base import VoiceProvider
from cxstack.channels.voice.schemas import CallQueued, IvrOption, MenuInput, VoicemailStarted

#: Menu prompts a caller hears before an unanswered menu goes to voicemail.
MAX_MENU_ATTEMPTS = 3
#: States in which the caller is still in the menu.
IN_MENU = ("ringing", "in_menu")


def _queue_call(
    uow: UnitOfWork, call: VoiceCall, option: IvrOption, given: MenuInput | None, provider: VoiceProvider
) -> str:
    assert option.queue is not None
    call.status, call.queue, call.skill = "queued", option.queue, option.skill
    call.ivr = {
        "option": option.key,
        "digits": given.digits if given else None,
        "speech": given.speech if given else None,
        "confidence": given.confidence if given else None,
        "queue": option.queue,
        "skill": option.skill,
    }
    call.updated_at = uow.clock.now()
    how = f"pressed {given.digits}" if given and given.digits else f'said "{given.speech}"' if given else ""
    post_call_message(
        uow,
        call,
        body=f"Caller chose {option.key} in the phone menu ({how}); waiting in the {option.queue} queue",
        client_id=f"call:{call.call_sid}:queued",
    )
    publish_call_event(
        uow,
        call,
        CallQueued(
            **call_refs(call),
            queue=option.queue,
            skill=option.skill,
            ivr=call.ivr,
            escalation_id=call.escalation_id,
        ),
    )
    return provider.enqueue(
        queue=option.queue,
        announcement="Thank you. Please hold while we connect you.",
        wait_url=f"{provider.hooks}/wait",
    )


def _take_voicemail(
    uow: UnitOfWork, call: VoiceCall, prompt: str, given: MenuInput | None, provider: VoiceProvider
) -> str:
    call.status = "voicemail"
    call.ivr = {
        "option": "voicemail",
        "digits": given.digits if given else None,
        "speech": given.speech if given else None,
        "confidence": given.confidence if given else None,
    }
    call.updated_at = uow.clock.now()
    publish_call_event(uow, call, VoicemailStarted(**call_refs(call), ivr=call.ivr))
    return provider.voicemail(prompt=prompt)


def answer_menu(
    uow: UnitOfWork, *, tenant_id: str, given: MenuInput, attempt: int, provider: VoiceProvider
) -> str:
    """Act on the caller's answer to the menu; return the instructions to answer with.

    A chosen queue option queues the call (``call.queued`` with what the menu collected); a voicemail
    option records a message (``call.voicemail_started``); no answer or an unknown one repeats the menu, up
    to ``MAX_MENU_ATTEMPTS`` prompts, then takes a voicemail. A call past the menu (a repeated callback)
    changes nothing and hears where it is. Raises NotFound for an unknown call.
    """
    call = known_call(uow, tenant_id=tenant_id, call_sid=given.call_sid)
    ivr = tenant_ivr(uow.session, tenant_id=tenant_id)
    if call.status == "queued" and call.queue:
        return provider.enqueue(
            queue=call.queue, announcement="Please hold.", wait_url=f"{provider.hooks}/wait"
        )
    if call.status == "voicemail":
        return provider.voicemail(prompt=ivr.voicemail_prompt)
    if call.status not in IN_MENU:
        return provider.goodbye("Goodbye.")
    option = choose_option(ivr, given)
    if option is not None:
        if option.action == "voicemail":
            return _take_voicemail(uow, call, ivr.voicemail_prompt, given, provider)
        return _queue_call(uow, call, option, given, provider)
    if max(attempt, call.menu_attempts) >= MAX_MENU_ATTEMPTS:
        return _take_voicemail(uow, call, ivr.voicemail_prompt, given, provider)
    call.menu_attempts = max(attempt, call.menu_attempts) + 1
    call.updated_at = uow.clock.now()
    heard = given.digits or given.speech
    apology = "Sorry, that is not one of the options." if heard else "Sorry, I did not catch that."
    return provider.menu(ivr, attempt=call.menu_attempts, apology=apology)
