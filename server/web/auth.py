"""Bearer tokens: mint and verify HS256 JWTs, and load or create the secret that signs them."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
MIN_SECRET_CHARS = 32
SECRET_FILE_NAME = "secret"
_REQUIRED_CLAIMS = ["sub", "role", "iat", "exp", "iss"]


class Role(StrEnum):
    REP = "rep"
    INTEGRATION = "integration"
    MANAGER = "manager"


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for: a rep id, or a name for integrations and managers."""

    role: Role
    subject: str
    team: str | None
    # when verify starts refusing the token (its exp plus the leeway), Unix seconds
    valid_until_s: float = field(default=0.0, compare=False)
    teams: frozenset[str] | None = None  # a manager scoped to these teams; None: every team

    def sees(self, team: str) -> bool:
        """Whether this principal may see `team` (a manager's scope, a rep's own team)."""
        if self.role is Role.REP:
            return team == self.team
        return self.teams is None or team in self.teams


class AuthError(Exception):
    """A token or credential was refused; the message is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenAuthority:
    """Mints and verifies tokens signed with one shared secret (never logged or repr'd)."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str = "leadgrab",
        leeway_s: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = _checked(secret, "the token secret")
        self._issuer = issuer
        self._leeway_s = leeway_s
        self._clock = clock

    def __repr__(self) -> str:
        return f"TokenAuthority(issuer={self._issuer!r}, leeway_s={self._leeway_s})"

    def mint(self, role: Role, subject: str, *, team: str | None = None, ttl_s: int,
             teams: list[str] | None = None) -> str:
        """A signed token for `subject`, valid for `ttl_s` seconds from now."""
        role = Role(role)
        _check_identity(role, subject, team)
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be a positive number of seconds, got {ttl_s}")
        now_s = int(self._clock())
        claims: dict[str, Any] = {"sub": subject, "role": str(role), "iss": self._issuer}
        claims.update(iat=now_s, exp=now_s + ttl_s)
        if team is not None:
            claims["team"] = team
        if teams is not None:
            if role is not Role.MANAGER or not teams or not all(teams):
                raise ValueError("teams: a non-empty list of team names, for a manager token")
            claims["teams"] = sorted(set(teams))
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        """The principal a token speaks for; raises AuthError saying why a token is refused."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.InvalidTokenError as exc:
            raise AuthError(_explain(exc, self._issuer)) from None
        return _principal(claims, float(claims["exp"]) + self._leeway_s)


def _check_identity(role: Role, subject: str, team: str | None) -> None:
    if not subject:
        raise ValueError("a token needs a non-empty subject")
    if role is Role.REP and not team:
        raise ValueError("a rep token needs a team")


def _explain(exc: jwt.InvalidTokenError, issuer: str) -> str:
    # InvalidSignatureError subclasses DecodeError, so the order of these checks matters.
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "token signature is invalid (signed with another secret?)"
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"token was not issued by {issuer!r}"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks the {exc.claim!r} claim"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return f"token is not signed with {ALGORITHM}"
    if isinstance(exc, jwt.DecodeError):
        return "token is not a well-formed JWT"
    return f"token refused: {exc}"


def _principal(claims: dict[str, Any], valid_until_s: float) -> Principal:
    role, subject, team = claims.get("role"), claims.get("sub"), claims.get("team")
    if not isinstance(role, str) or role not in {member.value for member in Role}:
        known = ", ".join(Role)
        raise AuthError(f"token role {role!r} is not one of {known}")
    if not isinstance(subject, str) or not subject:
        raise AuthError("token subject must be a non-empty string")
    if team is not None and (not isinstance(team, str) or not team):
        raise AuthError("token team must be a non-empty string when present")
    if role == Role.REP and team is None:
        raise AuthError("a rep token must carry a team")
    teams = claims.get("teams")
    if teams is not None and (not isinstance(teams, list) or not teams
                              or not all(isinstance(t, str) and t for t in teams)):
        raise AuthError("token teams must be a non-empty list of team names when present")
    return Principal(role=Role(role), subject=subject, team=team, valid_until_s=valid_until_s,
                     teams=frozenset(teams) if teams is not None else None)


def parse_bearer(header: str | None) -> str:
    """The token in an `Authorization: Bearer <token>` header; raises AuthError otherwise."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("expected an 'Authorization: Bearer <token>' header")
    return token.strip()


def load_or_create_secret(
    configured: str | None, *, data_dir: Path, env_var: str = "LEADGRAB_SECRET"
) -> str:
    """The signing secret: from config, else the environment, else `data_dir/secret` (made once).

    Empty values count as unset. Configured and environment secrets shorter than 32 characters
    are refused with ValueError.
    """
    if configured:
        return _checked(configured, "the configured secret")
    from_env = os.environ.get(env_var)
    if from_env:
        return _checked(from_env, f"${env_var}")
    path = data_dir / SECRET_FILE_NAME
    try:
        return _read_secret_file(path)
    except FileNotFoundError:
        return _create_secret_file(path)


def _checked(secret: str, source: str) -> str:
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(
            f"{source} has {len(secret)} characters; a token secret needs at least "
            f"{MIN_SECRET_CHARS} (generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return secret


def _read_secret_file(path: Path) -> str:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("secret file %s is readable by others (mode %o); chmod 600 it", path, mode)
    return _checked(path.read_text(encoding="utf-8").strip(), str(path))


def _create_secret_file(path: Path) -> str:
    """Write a fresh secret to a private temp file, then link it into place.

    Linking fails if another process won the race, so readers never see a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secret)
            out.flush()
            os.fsync(out.fileno())
        os.link(temp, path)
    except FileExistsError:
        return _read_secret_file(path)
    finally:
        temp.unlink(missing_ok=True)
    log.info("created a new token secret in %s", path)
    return secret
