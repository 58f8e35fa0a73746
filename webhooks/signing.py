"""Standard Webhooks signatures, made with the `standardwebhooks` library: the
headers of one attempt."""

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook as Signer

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)


def new_secret() -> str:
    """`whsec_` and 32 random bytes in base64, as the spec's libraries expect."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def headers(
    *, message_id: str, timestamp: datetime, body: bytes, secrets_: Sequence[str]
) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature`: one `v1,` signature
    per secret (two during a rotation), separated by spaces as the spec says."""
    signatures = [Signer(secret).sign(message_id, timestamp, body) for secret in secrets_]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": "Taskmanager-Webhooks/1",
    }
