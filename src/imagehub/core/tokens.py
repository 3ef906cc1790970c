"""Access tokens (JWT, HS256 or RS256) and the web pages' CSRF tokens derived from them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt

from imagehub.core.config import JwtAlgorithm, Settings
from imagehub.core.db import utcnow
from imagehub.core.errors import Unauthorized

TOKEN_ISSUER = "imagehub"  # noqa: S105


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


class TokenCodec:
    """Issues and verifies access tokens. Only the configured algorithm is accepted, so
    `alg: none` and HS/RS confusion are refused by construction."""

    def __init__(self, settings: Settings) -> None:
        self.algorithm = settings.jwt_algorithm.value
        self.lifetime = timedelta(minutes=settings.access_token_minutes)
        if settings.jwt_algorithm is JwtAlgorithm.RS256:
            assert settings.jwt_private_key_file
            assert settings.jwt_public_key_file
            self._signing_key: str = settings.jwt_private_key_file.read_text()
            self._verifying_key: str = settings.jwt_public_key_file.read_text()
        else:
            self._signing_key = self._verifying_key = settings.signing_secret()
        # The web pages' CSRF tokens: a MAC of the session token under a key of their own
        # (derived, never the signing key itself), so nothing needs storing and a token
        # planted in a cookie by someone else comes with no valid CSRF token.
        self._csrf_key = hashlib.sha256(b"imagehub csrf\x00" + self._signing_key.encode()).digest()

    def issue(self, user_id: uuid.UUID) -> IssuedToken:
        now = utcnow()
        claims = {
            "sub": str(user_id),
            "iss": TOKEN_ISSUER,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._signing_key, algorithm=self.algorithm)
        return IssuedToken(token, int(self.lifetime.total_seconds()))

    def verify(self, token: str) -> uuid.UUID:
        try:
            claims = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self.algorithm],
                issuer=TOKEN_ISSUER,
                options={"require": ["sub", "exp", "iat", "iss"]},
            )
            return uuid.UUID(claims["sub"])
        except jwt.ExpiredSignatureError as error:
            raise Unauthorized("The token has expired; log in again") from error
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise Unauthorized("The token is invalid") from error

    def csrf_token(self, session_token: str) -> str:
        """The token the pages send in `X-CSRF-Token` with a cookie session."""
        mac = hmac.new(self._csrf_key, session_token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def csrf_matches(self, session_token: str, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(self.csrf_token(session_token), sent)
