"""SMS through Twilio's Messages API: ``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form
encoded ``To``, ``From`` (or ``MessagingServiceSid``) and ``Body``, HTTP Basic auth with the account SID and
auth token. Twilio answers 201 with the message resource (its ``sid`` is our receipt), or an error object
``{"code", "message", "more_info", "status"}`` whose HTTP status decides retry or not, as for any HTTP answer."""

import json

import httpx

from consumers.notify.errors import FinalDelivery, classify_http, retry_after_seconds
from consumers.notify.http import Answer, post
from runtime.settings import TwilioSettings


def messages_url(settings: TwilioSettings) -> str:
    return f"{settings.base_url.rstrip('/')}/2010-04-01/Accounts/{settings.account_sid}/Messages.json"


def _json(answer: Answer) -> object:
    try:
        return json.loads(answer.body)
    except ValueError:  # not JSON, or cut at MAX_ANSWER_BYTES
        return None


def _error_text(response: Answer) -> str:
    error = _json(response)
    if isinstance(error, dict) and "message" in error:
        return f"Twilio {error.get('code')}: {error['message']}"
    return response.reason_phrase


class TwilioSender:
    def __init__(self, settings: TwilioSettings, client: httpx.AsyncClient) -> None:
        self._settings = settings
        self._client = client
        self._url = messages_url(settings)

    async def send(self, to: str, body: str) -> str:
        """Hand one SMS to Twilio; returns the message SID as the receipt."""
        s = self._settings
        form = {"To": to, "Body": body}
        if s.messaging_service_sid:
            form["MessagingServiceSid"] = s.messaging_service_sid
        elif s.from_number:
            form["From"] = s.from_number
        else:
            raise FinalDelivery("no SMS sender: set twilio.from_number or twilio.messaging_service_sid")
        response = await post(
            self._client,
            self._url,
            data=form,
            auth=(s.account_sid, s.auth_token.get_secret_value()),
            timeout=s.timeout_s,
            deadline_s=s.deadline_s,
        )
        error = classify_http(
            response.status_code, _error_text(response), retry_after_seconds(response.headers.get("retry-after"))
        )
        if error is not None:
            raise error
        resource = _json(response)
        if not isinstance(resource, dict) or "sid" not in resource:
            # Twilio took it (2xx) but we cannot read the id: sending again could double it, so it counts.
            return f"HTTP {response.status_code}"
        return str(resource["sid"])
