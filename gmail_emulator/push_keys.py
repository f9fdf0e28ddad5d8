"""The emulator's stand-in for Google's OIDC signing keys, used to sign Pub/Sub push tokens.

Pub/Sub's authenticated push attaches a Google-signed ID token; a receiver checks it against
Google's published certs. Here the key is generated per emulator (nothing is shipped), and its
public half is served in both formats google-auth's ``id_token.verify_token`` reads:
``/oauth2/v1/certs`` (``{kid: PEM certificate}``) and ``/oauth2/v3/certs`` (a JWKS).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ISSUER = "https://accounts.google.com"
TOKEN_LIFETIME_S = 3600
CERTS_PATHS = {"/oauth2/v1/certs": "pem", "/oauth2/v3/certs": "jwks"}


class PushSigner:
    """An RSA key, made on first use (2048-bit generation costs ~50 ms), and its certs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        self.kid = ""
        self._cert_pem = ""
        self.subject = str(10**20 + secrets.randbelow(10**20))  # Google's numeric `sub`/`azp`

    def _ensure(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._key is None:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                der = key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                self.kid = hashlib.sha1(der).hexdigest()  # Google's kids are 40 hex digits
                self._cert_pem = _self_signed(key)
                self._key = key
            return self._key

    def pem_certs(self) -> dict:
        self._ensure()
        return {self.kid: self._cert_pem}

    def jwks(self) -> dict:
        key = self._ensure()
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def certs(self, kind: str) -> dict:
        return self.jwks() if kind == "jwks" else self.pem_certs()

    def token(
        self,
        audience: str,
        email: str,
        overrides: dict | None = None,
        now: float | None = None,
    ) -> str:
        """An ID token shaped like Pub/Sub's; ``overrides`` replace claims (None drops one)."""
        key = self._ensure()
        issued = int(time.time() if now is None else now)
        claims = {
            "aud": audience,
            "azp": self.subject,
            "email": email,
            "email_verified": True,
            "exp": issued + TOKEN_LIFETIME_S,
            "iat": issued,
            "iss": ISSUER,
            "sub": self.subject,
        }
        for name, value in (overrides or {}).items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})


def _self_signed(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gmail-emulator push signer")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
