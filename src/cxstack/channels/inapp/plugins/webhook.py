"""Push through the company's own push service: the notification is posted as JSON to the tenant's
``push_url`` (``{"user_id", "conversation_id", "message_id", "title", "body", "devices": [{"platform",
"token", "topic"?}]}``), signed with HMAC-SHA256 of the body keyed with the tenant's identity secret
(``X-Cxstack-Signature: sha256=<hex>``). The company's service fans it out to APNs or FCM."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import orjson

from cxstack.channels.inapp.plugins.base import (
    PushNotification,
    PushProvider,
    PushRejected,
    PushResult,
    PushUnavailable,
)


class WebhookPushProvider(PushProvider):
    name = "webhook"

    def __init__(self, *, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s

    async def send(self, notification: PushNotification) -> PushResult:
        if not notification.push_url:
            raise PushRejected("the tenant has no push_url")
        body = orjson.dumps(
            {
                "user_id": notification.user_id,
                "conversation_id": notification.conversation_id,
                "message_id": notification.message_id,
                "title": notification.title,
                "body": notification.body,
                "devices": [
                    {
                        "platform": d.platform,
                        "provider": d.provider,
                        "token": d.token,
                        **({"topic": d.topic} if d.topic else {}),
                    }
                    for d in notification.devices
                ],
            }
        )
        signature = hmac.new(notification.signing_key.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Cxstack-Signature": f"sha256={signature}",
            "Idempotency-Key": notification.message_id,
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False) as http:
                response = await http.post(notification.push_url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise PushUnavailable(f"the push service could not be reached: {error}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise PushUnavailable(f"the push service answered {response.status_code}")
        if response.status_code >= 400:
            raise PushRejected(f"the push service refused the notification: {response.status_code}")
        return PushResult(
            provider_id=response.headers.get("x-request-id", ""), delivered_to=len(notification.devices)
        )
