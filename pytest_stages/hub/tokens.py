"""The token service: RS256 JSON Web Tokens in the form Docker's token auth uses."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import math
import secrets
import time
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

ISSUER = "auth.docker.io"
SERVICE = "registry.docker.io"
DEFAULT_LIFETIME = 300


class TokenError(Exception):
    """A bearer token that is malformed, badly signed or expired."""


@dataclass(frozen=True)
class Access:
    """One entry of a token's `access` claim, such as repository library/alpine pull."""

    type: str
    name: str
    actions: tuple[str, ...]

    def to_claim(self) -> dict:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def parse_scope(scope: str) -> Access | None:
    """Parse `repository:NAME:ACTIONS`. Returns None for any other form.

    NAME may contain a registry port (`host:5000/name`), so the actions are
    what follows the last colon.
    """
    resource_type, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if resource_type != "repository" or not name:
        return None
    return Access("repository", name, tuple(a for a in actions.split(",") if a))


@dataclass
class TokenService:
    """Issues and verifies tokens signed with a key made for this instance.

    `certificate_pem` is a self-signed certificate of the signing key. A CNCF
    registry that lists it in `auth.token.rootcertbundle` accepts these tokens.
    """

    issuer: str = ISSUER
    service: str = SERVICE
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(65537, 2048)
    )

    def __post_init__(self) -> None:
        self.certificate = _self_signed(self.key)
        self.certificate_pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        self.key_id = libtrust_key_id(self.key.public_key())

    def issue(self, access: list[Access], lifetime: float = DEFAULT_LIFETIME) -> dict:
        """Return the token service's JSON response for a token granting `access`."""
        now = time.time()
        claims = {
            "iss": self.issuer,
            "sub": "",
            "aud": self.service,
            # JWT times are whole seconds. Rounding up keeps a token valid
            # for at least `lifetime` seconds.
            "exp": math.ceil(now) + math.ceil(lifetime),
            "nbf": int(now) - 1,
            "iat": math.ceil(now),
            "jti": secrets.token_hex(16),
            "access": [entry.to_claim() for entry in access],
        }
        token = self.sign(claims)
        issued_at = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        return {
            "token": token,
            "access_token": token,
            "expires_in": int(lifetime),
            "issued_at": issued_at.isoformat(timespec="microseconds").replace(
                "+00:00", "Z"
            ),
        }

    def sign(self, claims: dict) -> str:
        """Encode and sign `claims` as a compact RS256 JWT."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        header = {
            "alg": "RS256",
            "typ": "JWT",
            "kid": self.key_id,
            "x5c": [base64.b64encode(der).decode()],
        }
        signing_input = f"{_b64_json(header)}.{_b64_json(claims)}"
        signature = self.key.sign(
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{b64url(signature)}"

    def verify(self, token: str, now: float | None = None) -> dict:
        """Check the signature, issuer, audience and lifetime of `token`.

        Returns the claims. Raises TokenError with the reason otherwise.
        """
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("the token is not a compact JWT")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except ValueError as error:
            raise TokenError(f"the token does not decode: {error}") from None
        if header.get("alg") != "RS256":
            raise TokenError(f"unexpected algorithm {header.get('alg')!r}")
        try:
            self.key.public_key().verify(
                signature,
                f"{parts[0]}.{parts[1]}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise TokenError("invalid signature") from None
        _check_claims(
            claims, self.issuer, self.service, time.time() if now is None else now
        )
        return claims


def grants(claims: dict, repository: str, action: str) -> bool:
    """Return whether verified `claims` allow `action` on `repository`."""
    for entry in claims.get("access") or []:
        if (
            entry.get("type") == "repository"
            and entry.get("name") == repository
            and action in (entry.get("actions") or [])
        ):
            return True
    return False


def libtrust_key_id(public_key) -> str:
    """Return the key id Docker's libtrust derives from a public key.

    It is the base32 form of the first 240 bits of the SHA-256 of the DER
    public key, in groups of four characters joined by colons.
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64_json(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def _check_claims(claims: dict, issuer: str, service: str, now: float) -> None:
    if claims.get("iss") != issuer:
        raise TokenError(f"unexpected issuer {claims.get('iss')!r}")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if service not in audiences:
        raise TokenError(f"unexpected audience {audience!r}")
    if not isinstance(claims.get("exp"), (int, float)) or now >= claims["exp"]:
        raise TokenError("the token has expired")
    if isinstance(claims.get("nbf"), (int, float)) and now < claims["nbf"]:
        raise TokenError("the token is not valid yet")


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "pytest-stages hub token signer")]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
