"""GET /api/v1/auth/info: which auth modes are on (never a secret)."""

from fastapi import APIRouter, Request
from sqlalchemy import select

from jq2qmt import signing
from jq2qmt.server.auth import HEADER_ADMIN_PASSWORD, HEADER_UPLOAD_TOKEN
from jq2qmt.store.models import Client

router = APIRouter(tags=["auth"])


@router.get("/api/v1/auth/info", summary="认证方式 / auth modes")
def auth_info(request: Request):
    settings = request.app.state.settings
    with request.app.state.db.read() as session:
        kinds = set(session.scalars(select(Client.kind).where(Client.revoked_at.is_(None))).all())
    return {
        "upload": {
            "signed": True,
            "scheme": signing.SCHEME,
            "algorithms": ["RSA-PSS-SHA256", "Ed25519"],
            "headers": [
                signing.HEADER_CLIENT,
                signing.HEADER_TIMESTAMP,
                signing.HEADER_NONCE,
                signing.HEADER_SIGNATURE,
            ],
            "signature_window": settings.signature_window,
            "token_mode_enabled": "token" in kinds,
            "token_header": HEADER_UPLOAD_TOKEN,
        },
        "read": {"bearer_token": True},
        "admin": {"password_header": HEADER_ADMIN_PASSWORD},
        # seed compatibility: the original reported its modes with these flags
        "crypto_auth_enabled": True,
        "simple_auth_enabled": "token" in kinds,
    }
