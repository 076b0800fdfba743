"""Tokens and the signing secret: round trips, every refusal, and where the secret comes from."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import jwt
import pytest

from server.web.auth import (
    AuthError,
    Principal,
    Role,
    TokenAuthority,
    load_or_create_secret,
    parse_bearer,
)

SECRET = "s" * 32
OTHER_SECRET = "o" * 40


def authority(
    secret: str = SECRET, *, ago_s: float = 0, issuer: str = "leadgrab"
) -> TokenAuthority:
    """An authority whose clock runs `ago_s` seconds behind, to mint tokens in the past."""
    return TokenAuthority(secret, issuer=issuer, clock=lambda: time.time() - ago_s)


def raw_token(claims: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def valid_claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"sub": "rep-1", "role": "rep", "team": "north"}
    claims.update(iat=now, exp=now + 60, iss="leadgrab")
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def refused(token: str, match: str) -> None:
    with pytest.raises(AuthError, match=match) as caught:
        authority().verify(token)
    assert SECRET not in str(caught.value)


# ---------------------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    "principal",
    [
        Principal(Role.REP, "rep-1", "north"),
        Principal(Role.INTEGRATION, "website-form", None),
        Principal(Role.INTEGRATION, "crm", "north"),
        Principal(Role.MANAGER, "alice", None),
        Principal(Role.MANAGER, "bob", "south"),
    ],
)
def test_round_trip(principal: Principal) -> None:
    auth = authority()
    token = auth.mint(principal.role, principal.subject, team=principal.team, ttl_s=60)
    assert auth.verify(token) == principal


def test_claims_are_the_documented_ones() -> None:
    token = authority().mint(Role.REP, "rep-1", team="north", ttl_s=60)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="leadgrab")
    assert set(claims) == {"sub", "role", "team", "iat", "exp", "iss"}
    assert claims["exp"] - claims["iat"] == 60


def test_other_secret_is_refused() -> None:
    token = authority(OTHER_SECRET).mint(Role.REP, "rep-1", team="north", ttl_s=60)
    refused(token, "signature is invalid")


def test_expired_token_is_refused() -> None:
    token = authority(ago_s=120).mint(Role.REP, "rep-1", team="north", ttl_s=60)
    refused(token, "token expired")


def test_expiry_within_leeway_is_accepted() -> None:
    token = authority(ago_s=63).mint(Role.REP, "rep-1", team="north", ttl_s=60)
    assert authority().verify(token).subject == "rep-1"


def test_expiry_beyond_leeway_is_refused() -> None:
    token = authority(ago_s=70).mint(Role.REP, "rep-1", team="north", ttl_s=60)
    refused(token, "token expired")


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "Bearer x.y.z", "é" * 20])
def test_garbage_is_refused(garbage: str) -> None:
    refused(garbage, "not a well-formed JWT")


@pytest.mark.parametrize("claim", ["role", "sub", "exp", "iat", "iss"])
def test_missing_claim_is_refused(claim: str) -> None:
    refused(raw_token(valid_claims(**{claim: None})), f"lacks the '{claim}' claim")


def test_unknown_role_is_refused() -> None:
    refused(raw_token(valid_claims(role="admin")), "role 'admin' is not one of rep, integration")


def test_non_string_role_is_refused() -> None:
    refused(raw_token(valid_claims(role=["rep"])), "is not one of")


def test_rep_without_team_is_refused() -> None:
    refused(raw_token(valid_claims(team=None)), "must carry a team")


def test_non_string_team_is_refused() -> None:
    refused(raw_token(valid_claims(team=5)), "team must be a non-empty string")


def test_wrong_issuer_is_refused() -> None:
    refused(raw_token(valid_claims(iss="someone-else")), "not issued by 'leadgrab'")


def test_custom_issuer() -> None:
    auth = authority(issuer="acme")
    token = auth.mint(Role.MANAGER, "alice", ttl_s=60)
    assert auth.verify(token).role is Role.MANAGER
    refused(token, "not issued by")


def test_other_algorithm_is_refused() -> None:
    token = jwt.encode(valid_claims(), SECRET * 2, algorithm="HS512")
    refused(token, "not signed with HS256")


def test_unsigned_token_is_refused() -> None:
    refused(jwt.encode(valid_claims(), None, algorithm="none"), "not signed with HS256")


@pytest.mark.parametrize(
    ("role", "subject", "team", "ttl_s", "match"),
    [
        (Role.REP, "rep-1", None, 60, "needs a team"),
        (Role.MANAGER, "", None, 60, "non-empty subject"),
        (Role.MANAGER, "alice", None, 0, "positive"),
        ("boss", "alice", None, 60, "boss"),
    ],
)
def test_mint_refuses_bad_arguments(
    role: Role, subject: str, team: str | None, ttl_s: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        authority().mint(role, subject, team=team, ttl_s=ttl_s)


def test_short_secret_is_refused_and_not_shown() -> None:
    with pytest.raises(ValueError, match="at least 32") as caught:
        TokenAuthority("short-secret")
    assert "short-secret" not in str(caught.value)


def test_repr_hides_the_secret() -> None:
    assert SECRET not in repr(authority())


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer  abc ", "abc"), (" Bearer x", "x")],
)
def test_parse_bearer(header: str, token: str) -> None:
    assert parse_bearer(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "abc"])
def test_parse_bearer_refuses(header: str | None) -> None:
    with pytest.raises(AuthError, match="Bearer <token>"):
        parse_bearer(header)


# ---------------------------------------------------------------------------- the secret


@pytest.fixture
def no_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADGRAB_SECRET", raising=False)


@pytest.mark.usefixtures("no_env_secret")
def test_secret_file_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = load_or_create_secret(None, data_dir=data_dir)
    path = data_dir / "secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == first
    assert len(first) >= 32
    assert load_or_create_secret(None, data_dir=data_dir) == first
    assert [p.name for p in data_dir.iterdir()] == ["secret"]


@pytest.mark.usefixtures("no_env_secret")
def test_existing_secret_file_is_used(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("f" * 40 + "\n")
    assert load_or_create_secret(None, data_dir=tmp_path) == "f" * 40


@pytest.mark.usefixtures("no_env_secret")
def test_short_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("tiny")
    with pytest.raises(ValueError, match="at least 32"):
        load_or_create_secret(None, data_dir=tmp_path)


def test_env_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret").write_text("f" * 40)
    monkeypatch.setenv("LEADGRAB_SECRET", "e" * 40)
    assert load_or_create_secret(None, data_dir=tmp_path) == "e" * 40


def test_custom_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SECRET", "m" * 40)
    assert load_or_create_secret(None, data_dir=tmp_path, env_var="MY_SECRET") == "m" * 40


def test_config_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGRAB_SECRET", "e" * 40)
    assert load_or_create_secret("c" * 40, data_dir=tmp_path) == "c" * 40
    assert not (tmp_path / "secret").exists()


@pytest.mark.usefixtures("no_env_secret")
def test_empty_values_count_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGRAB_SECRET", "")
    assert load_or_create_secret("", data_dir=tmp_path) == (tmp_path / "secret").read_text()


def test_short_configured_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="configured secret has 6 characters") as caught:
        load_or_create_secret("hunter", data_dir=tmp_path)
    assert "hunter" not in str(caught.value)


def test_short_env_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGRAB_SECRET", "hunter2")
    with pytest.raises(ValueError, match=r"\$LEADGRAB_SECRET has 7 characters") as caught:
        load_or_create_secret(None, data_dir=tmp_path)
    assert "hunter2" not in str(caught.value)


@pytest.mark.usefixtures("no_env_secret")
def test_secret_is_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    secret = load_or_create_secret(None, data_dir=tmp_path)
    (tmp_path / "secret").chmod(0o644)
    load_or_create_secret(None, data_dir=tmp_path)
    assert "chmod 600" in caplog.text
    assert secret not in caplog.text
