"""A push provider that keeps what it is given: the test double of ``PushProvider``, and a way to run
the in-app channel with no push service (notifications can be read back from it)."""

from __future__ import annotations

from cxstack.channels.inapp.plugins.base import PushNotification, PushProvider, PushResult, PushUnavailable


class RecordingPushProvider(PushProvider):
    name = "recording"

    def __init__(self) -> None:
        self.sent: list[PushNotification] = []
        #: Attempts still to fail with PushUnavailable before sends succeed (to exercise retries).
        self.fail_next = 0

    async def send(self, notification: PushNotification) -> PushResult:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise PushUnavailable("failing on purpose")
        self.sent.append(notification)
        return PushResult(provider_id=f"rec-{len(self.sent)}", delivered_to=len(notification.devices))
