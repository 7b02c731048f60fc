"""Server-side digest authentication (sems_lite.sip.auth)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sems_lite.sip.auth import (
    AuthResult,
    DigestAuthenticator,
    digest_response,
    parse_auth_params,
    redact,
)

REALM = "sip.example.org"
URI = "sip:echo@sip.example.org"

# RFC 7616 §3.9.1 worked example.
RFC_USER, RFC_PASSWORD, RFC_REALM = "Mufasa", "Circle of Life", "http-auth@example.org"
RFC_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC_RESPONSES = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def h(algorithm: str, text: str) -> str:
    """The client side, written independently of the module under test."""
    name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm]
    return hashlib.new(name, text.encode()).hexdigest()


def client_header(
    challenge_value: str,
    *,
    username: str = "alice",
    password: str = "wonderland",
    method: str = "INVITE",
    uri: str = URI,
    nc: str = "00000001",
    cnonce: str = "0a4f113b",
    realm: str | None = None,
    qop: str | None = "auth",
    sess: bool = False,
) -> str:
    _, params = parse_auth_params(challenge_value)
    algorithm = params["algorithm"]
    realm = realm if realm is not None else params["realm"]
    nonce = params["nonce"]
    ha1 = h(algorithm, f"{username}:{realm}:{password}")
    if sess:
        ha1 = h(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(algorithm, f"{method}:{uri}")
    if qop is None:
        response = h(algorithm, f"{ha1}:{nonce}:{ha2}")
        tail = ""
    else:
        response = h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
        tail = f', qop={qop}, nc={nc}, cnonce="{cnonce}"'
    name = algorithm + ("-sess" if sess else "")
    return (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm={name}, opaque="{params["opaque"]}"{tail}'
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(clock: Clock) -> DigestAuthenticator:
    return DigestAuthenticator(REALM, {"alice": "wonderland"}, secret=b"s" * 32, clock=clock)


def challenge_for(auth: DigestAuthenticator, algorithm: str = "SHA-256", **kw: bool) -> str:
    for _, value in auth.challenge(**kw):
        if f"algorithm={algorithm}," in value:
            return value
    raise AssertionError(f"no {algorithm} challenge")


# -- RFC 7616 §3.9.1 ---------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example_digest(algorithm: str) -> None:
    ha1 = h(algorithm, f"{RFC_USER}:{RFC_REALM}:{RFC_PASSWORD}")
    response = digest_response(
        algorithm,
        ha1,
        "GET",
        "/dir/index.html",
        RFC_NONCE,
        nc="00000001",
        cnonce=RFC_CNONCE,
        qop="auth",
    )
    assert response == RFC_RESPONSES[algorithm]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example_through_verify(algorithm: str, clock: Clock) -> None:
    # The RFC's nonce was not issued by us; accept it as fresh to check the rest of verify.
    class RfcNonce(DigestAuthenticator):
        def _nonce_age(self, nonce: str) -> float | None:
            return 1.0 if nonce == RFC_NONCE else None

    auth = RfcNonce(RFC_REALM, {RFC_USER: RFC_PASSWORD}, algorithms=[algorithm], clock=clock)
    auth._opaque = RFC_OPAQUE
    header = (
        f'Digest username="{RFC_USER}", realm="{RFC_REALM}", uri="/dir/index.html", '
        f'algorithm={algorithm}, nonce="{RFC_NONCE}", nc=00000001, cnonce="{RFC_CNONCE}", '
        f'qop=auth, response="{RFC_RESPONSES[algorithm]}", opaque="{RFC_OPAQUE}"'
    )
    assert auth.verify("GET", header) == AuthResult(True, RFC_USER, False, "ok")
    assert not auth.verify("POST", header).ok  # the method is part of the digest


# -- challenges --------------------------------------------------------------------------


def test_challenge_lists_sha256_first_then_md5(auth: DigestAuthenticator) -> None:
    lines = auth.challenge()
    assert [name for name, _ in lines] == ["WWW-Authenticate", "WWW-Authenticate"]
    params = [parse_auth_params(value)[1] for _, value in lines]
    assert [p["algorithm"] for p in params] == ["SHA-256", "MD5"]
    for p in params:
        assert p["realm"] == REALM and p["qop"] == "auth" and p["opaque"]
        assert "stale" not in p
    assert params[0]["nonce"] == params[1]["nonce"]


def test_every_challenge_has_a_new_nonce(auth: DigestAuthenticator) -> None:
    nonces = {parse_auth_params(auth.challenge()[0][1])[1]["nonce"] for _ in range(50)}
    assert len(nonces) == 50


def test_stale_challenge_says_so(auth: DigestAuthenticator) -> None:
    assert parse_auth_params(auth.challenge(stale=True)[0][1])[1]["stale"] == "true"


def test_realm_is_quoted_with_escapes() -> None:
    with pytest.raises(ValueError):
        DigestAuthenticator('a"b', {})
    with pytest.raises(ValueError):
        DigestAuthenticator("r", {}, algorithms=["SHA-1"])


# -- verification ------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_good_credentials(auth: DigestAuthenticator, algorithm: str) -> None:
    header = client_header(challenge_for(auth, algorithm))
    assert auth.verify("INVITE", header) == AuthResult(True, "alice", False, "ok")


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_sess_variants(clock: Clock, algorithm: str) -> None:
    auth = DigestAuthenticator(
        REALM, {"alice": "wonderland"}, algorithms=[f"{algorithm}-sess"], clock=clock
    )
    value = auth.challenge()[0][1]
    assert f"algorithm={algorithm}-SESS" in value
    header = client_header(value.replace("-SESS", ""), sess=True)
    assert auth.verify("INVITE", header).ok
    # The plain algorithm was not offered, so it is not accepted either.
    assert auth.verify("INVITE", client_header(value.replace("-SESS", ""))).reason == (
        "algorithm not allowed"
    )


def test_precomputed_ha1(clock: Clock) -> None:
    ha1_md5 = h("MD5", f"bob:{REALM}:builder")
    auth = DigestAuthenticator(REALM, {"bob": f"ha1:{ha1_md5.upper()}"}, clock=clock)
    ok = client_header(challenge_for(auth, "MD5"), username="bob", password="builder")
    assert auth.verify("INVITE", ok).ok
    # A 32-digit HA1 is an MD5 one: it cannot answer a SHA-256 challenge.
    sha = client_header(challenge_for(auth, "SHA-256"), username="bob", password="builder")
    assert auth.verify("INVITE", sha).reason == "unknown user"


def test_missing_algorithm_means_md5(auth: DigestAuthenticator) -> None:
    header = client_header(challenge_for(auth, "MD5")).replace("algorithm=MD5, ", "")
    assert auth.verify("INVITE", header).ok


def test_wrong_password(auth: DigestAuthenticator) -> None:
    header = client_header(challenge_for(auth), password="guess")
    assert auth.verify("INVITE", header) == AuthResult(False, "alice", False, "wrong credentials")


def test_unknown_user(auth: DigestAuthenticator) -> None:
    result = auth.verify("INVITE", client_header(challenge_for(auth), username="mallory"))
    assert not result.ok and result.reason == "unknown user" and not result.stale


def test_wrong_method_or_uri_in_digest(auth: DigestAuthenticator) -> None:
    header = client_header(challenge_for(auth), method="REGISTER")
    assert not auth.verify("INVITE", header).ok


def test_uppercase_hex_response_is_accepted(auth: DigestAuthenticator) -> None:
    header = client_header(challenge_for(auth))
    response = parse_auth_params(header)[1]["response"]
    assert auth.verify("INVITE", header.replace(response, response.upper())).ok


def test_wrong_realm(auth: DigestAuthenticator) -> None:
    header = client_header(challenge_for(auth), realm="other.example.org")
    assert auth.verify("INVITE", header).reason == "wrong realm"


def test_stale_nonce_with_right_password(auth: DigestAuthenticator, clock: Clock) -> None:
    header = client_header(challenge_for(auth))
    clock.now += 301
    result = auth.verify("INVITE", header)
    assert result == AuthResult(False, "alice", True, "stale nonce")


def test_stale_nonce_with_wrong_password_is_not_stale(
    auth: DigestAuthenticator, clock: Clock
) -> None:
    header = client_header(challenge_for(auth), password="guess")
    clock.now += 301
    result = auth.verify("INVITE", header)
    assert not result.ok and not result.stale


def test_nonce_from_the_future_is_refused(auth: DigestAuthenticator, clock: Clock) -> None:
    header = client_header(challenge_for(auth))
    clock.now -= 10
    assert not auth.verify("INVITE", header).ok


def test_nonce_age_within_ttl_is_fine(auth: DigestAuthenticator, clock: Clock) -> None:
    header = client_header(challenge_for(auth))
    clock.now += 299
    assert auth.verify("INVITE", header).ok


def test_forged_nonce(auth: DigestAuthenticator, clock: Clock) -> None:
    other = DigestAuthenticator(REALM, {"alice": "wonderland"}, secret=b"x" * 32, clock=clock)
    header = client_header(challenge_for(other)).replace(
        f'opaque="{other._opaque}"', f'opaque="{auth._opaque}"'
    )
    assert auth.verify("INVITE", header).reason == "nonce not issued here"


def test_replayed_nc(auth: DigestAuthenticator) -> None:
    challenge = challenge_for(auth)
    first = client_header(challenge, nc="00000001")
    assert auth.verify("INVITE", first).ok
    again = auth.verify("INVITE", first)
    assert not again.ok and again.reason == "replayed nonce count" and not again.stale
    # The same nonce with the next count is a new request and passes.
    assert auth.verify("INVITE", client_header(challenge, nc="00000002")).ok
    # Case in hex digits does not make a new count.
    assert auth.verify("INVITE", client_header(challenge, nc="0000000A")).ok
    assert not auth.verify("INVITE", client_header(challenge, nc="0000000a")).ok


def test_failed_attempts_do_not_fill_the_replay_memory(clock: Clock) -> None:
    auth = DigestAuthenticator(REALM, {"alice": "wonderland"}, clock=clock, replay_cache=2)
    challenge = challenge_for(auth)
    good = client_header(challenge, nc="00000001")
    assert auth.verify("INVITE", good).ok
    for n in range(2, 20):
        assert not auth.verify("INVITE", client_header(challenge, nc=f"{n:08x}", password="x")).ok
    assert not auth.verify("INVITE", good).ok  # still remembered


def test_replay_memory_is_bounded(clock: Clock) -> None:
    auth = DigestAuthenticator(REALM, {"alice": "wonderland"}, clock=clock, replay_cache=8)
    challenge = challenge_for(auth)
    for n in range(1, 100):
        assert auth.verify("INVITE", client_header(challenge, nc=f"{n:08x}")).ok
    assert len(auth._seen) == 8


def test_qop_is_required_unless_rfc2069_is_enabled(auth: DigestAuthenticator, clock: Clock) -> None:
    header = client_header(challenge_for(auth), qop=None)
    assert auth.verify("INVITE", header).reason == "qop missing"
    legacy = DigestAuthenticator(
        REALM, {"alice": "wonderland"}, secret=b"s" * 32, clock=clock, allow_rfc2069=True
    )
    assert legacy.verify("INVITE", header).ok
    assert not legacy.verify("INVITE", header).ok  # without nc a nonce works once


def test_qop_auth_int_is_not_supported(auth: DigestAuthenticator) -> None:
    header = client_header(challenge_for(auth), qop="auth-int")
    assert auth.verify("INVITE", header).reason == "qop not supported"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda v: v.replace("nc=00000001", "nc=1"), "qop=auth needs nc"),
        (lambda v: v.replace(', cnonce="0a4f113b"', ""), "qop=auth needs nc"),
        (lambda v: v.replace('uri="sip:echo@sip.example.org", ', ""), "missing uri"),
        (lambda v: v.replace("Digest", "Basic"), "unsupported scheme"),
        (lambda v: v + ', opaque="x"', "malformed credentials"),  # duplicate param
        (lambda v: v.replace('opaque="', 'opaque="z'), "wrong opaque"),
        (lambda v: v + ", userhash=true", "userhash not supported"),
    ],
)
def test_bad_parameters(auth: DigestAuthenticator, edit, reason: str) -> None:
    result = auth.verify("INVITE", edit(client_header(challenge_for(auth))))
    assert not result.ok
    assert result.reason.startswith(reason)


def test_no_header(auth: DigestAuthenticator) -> None:
    assert auth.verify("INVITE", None) == AuthResult(False, None, False, "no credentials")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Digest",
        "Digest ,,,",
        'Digest username="alice',
        "Digest username=alice realm=x",
        'Digest username="\udcff", realm="sip.example.org", nonce="x", uri="u", response="é"',
        "Digest " + "a=b, " * 2000,
        "\x00\r\n",
        'Digest response="\\',
    ],
)
def test_malformed_headers_fail_cleanly(auth: DigestAuthenticator, value: str) -> None:
    result = auth.verify("INVITE", value)
    assert isinstance(result, AuthResult) and not result.ok


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_verify_never_raises_on_text(value: str) -> None:
    auth = DigestAuthenticator(REALM, {"alice": "wonderland"}, secret=b"s" * 32, clock=lambda: 0.0)
    result = auth.verify("INVITE", value)
    assert not result.ok


_PARAM_NAMES = st.sampled_from(
    ["username", "realm", "nonce", "uri", "response", "algorithm", "qop", "nc", "cnonce", "opaque"]
)
_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["auth", "MD5", "SHA-256", "MD5-sess", "00000001", REALM, "alice", URI]),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_PARAM_NAMES, _VALUES, max_size=10), st.booleans())
def test_verify_never_raises_on_structured_junk(params: dict[str, str], real_nonce: bool) -> None:
    auth = DigestAuthenticator(REALM, {"alice": "wonderland"}, secret=b"s" * 32, clock=lambda: 0.0)
    if real_nonce:
        params["nonce"] = parse_auth_params(auth.challenge()[0][1])[1]["nonce"]
    quoted = ", ".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in params.items()
    )
    result = auth.verify("INVITE", f"Digest {quoted}")
    assert isinstance(result, AuthResult) and not result.ok


# -- parsing and redaction ---------------------------------------------------------------


def test_parse_auth_params_unescapes_and_lowercases_names() -> None:
    scheme, params = parse_auth_params(
        'Digest  USERNAME="a\\"b\\\\c" ,realm=x,, nc=00000001 , uri="sip:a@b;x=y, z"'
    )
    assert scheme == "Digest"
    assert params == {"username": 'a"b\\c', "realm": "x", "nc": "00000001", "uri": "sip:a@b;x=y, z"}


@pytest.mark.parametrize(
    "value",
    ["", "  ", "Digest a", "Digest a=", 'Digest a="x" b="y"', "Digest a=1, a=2", "Digest A=1, a=2"],
)
def test_parse_auth_params_rejects_junk(value: str) -> None:
    with pytest.raises(ValueError):
        parse_auth_params(value)


def test_parse_auth_params_ignores_unknown_params(auth: DigestAuthenticator) -> None:
    header = client_header(challenge_for(auth)) + ', foo=bar, baz="q"'
    assert auth.verify("INVITE", header).ok


def test_redact_hides_secrets(auth: DigestAuthenticator) -> None:
    header = client_header(challenge_for(auth))
    params = parse_auth_params(header)[1]
    shown = redact(header)
    assert 'username="alice"' in shown and f'realm="{REALM}"' in shown
    for secret in (params["response"], params["nonce"], params["cnonce"]):
        assert secret not in shown
    assert "response=<redacted>" in shown


def test_redact_never_echoes_what_it_cannot_parse() -> None:
    assert redact('Digest username="alice", response=') == "<unparsable credentials, 34 chars>"
    assert "QWxhZGRpbjpvcGVuIHNlc2FtZQ" not in redact("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
