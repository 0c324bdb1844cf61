"""levent.http.uri: libevent's behaviours (reference items 122-128), properties, and
conformance against the real libevent 2.1 through ctypes.

Behaviour tests read "given X, levent does Y". Conformance tests feed the same corpus
to both libraries and compare accept/reject and every component. URIs cross to C as
Latin-1 bytes (one character per byte, so any byte string round-trips); query and
decode inputs as UTF-8, which is what levent's ``str`` rule is defined against.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator

import libevent_http_ctypes as C
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from levent.http.headers import Headers
from levent.http.uri import (
    EVHTTP_URI_HOST_STRIP_BRACKETS,
    EVHTTP_URI_NONCONFORMANT,
    EVHTTP_URI_QUERY_LAST_VAL,
    EVHTTP_URI_QUERY_NONCONFORMANT,
    EVHTTP_URI_UNIX_SOCKET,
    Uri,
    decode_uri,
    encode_uri,
    htmlescape,
    parse_query,
    parse_query_str,
    uridecode,
    uridecode_bytes,
    uriencode,
)

NC = EVHTTP_URI_NONCONFORMANT


def parts(u: Uri) -> tuple[object, ...]:
    return (u.scheme, u.userinfo, u.host, u.port, u.path, u.query, u.fragment)


# -- item 122: evhttp_add_header --------------------------------------------------------


@pytest.mark.parametrize("key,value", [("One", "Two"), ("One", "Two\r\n Three")])
def test_given_a_plain_or_folded_header_levent_adds_it(key: str, value: str) -> None:
    h = Headers()
    h.add(key, value)
    assert h.find("one") == value


@pytest.mark.parametrize(
    "key,value", [("", "x"), ("One\r", "x"), ("One\n", "x"), ("One", "Two\r"), ("One", "Two\n")]
)
def test_given_an_empty_key_or_bare_cr_lf_levent_refuses_the_header(key: str, value: str) -> None:
    with pytest.raises(ValueError):
        Headers().add(key, value)


# -- item 123: evhttp_parse_query / parse_query_str -----------------------------------------


def test_given_a_uri_with_a_query_parse_query_splits_it() -> None:
    h = parse_query("?q=test&foo=bar")
    assert list(h) == [("q", "test"), ("foo", "bar")]


def test_given_plus_in_a_value_levent_decodes_it_as_space() -> None:
    assert parse_query("http://www.test.com/?q=test+foo").find("q") == "test foo"
    assert parse_query_str("q=test+foo").find("q") == "test foo"


def test_given_an_escaped_newline_levent_decodes_it_into_the_value() -> None:
    assert parse_query_str("q=%0A").find("q") == "\n"


def test_given_keys_with_escapes_levent_leaves_the_keys_encoded() -> None:
    assert list(parse_query_str("a%20b=c%20d")) == [("a%20b", "c d")]


@pytest.mark.parametrize("query", ["q=test&&q2", "q&q2=foo", "q=foo&q2", "&q=1", "=x"])
def test_given_a_malformed_parameter_parse_query_str_refuses_the_query(query: str) -> None:
    with pytest.raises(ValueError, match="invalid query"):
        parse_query_str(query)


@pytest.mark.parametrize("uri", ["http://www.test.com/?q=test&&q2", "http://x/?q&q2=foo"])
def test_given_a_malformed_query_parse_query_refuses_the_uri(uri: str) -> None:
    with pytest.raises(ValueError):
        parse_query(uri)


def test_given_empty_values_levent_keeps_three_empty_values() -> None:
    assert list(parse_query_str("q=&q2=&q3=")) == [("q", ""), ("q2", ""), ("q3", "")]


def test_given_a_whole_url_parse_query_str_finds_no_key_q() -> None:
    h = parse_query_str("http://www.test.com/?q=test")
    assert h.find("q") is None
    assert list(h) == [("http://www.test.com/?q", "test")]


def test_given_one_trailing_ampersand_levent_ignores_it() -> None:
    assert list(parse_query_str("q=1&")) == [("q", "1")]


def test_given_an_empty_query_or_none_levent_returns_no_headers() -> None:
    assert len(parse_query_str("")) == 0
    assert len(parse_query("http://x/")) == 0
    assert len(parse_query("http://x/?")) == 0


def test_given_an_unparseable_uri_parse_query_refuses_it() -> None:
    with pytest.raises(ValueError, match="invalid URI"):
        parse_query("http://x/a b?q=1")


def test_given_an_escaped_nul_levent_keeps_the_whole_value() -> None:
    # Deliberate difference: libevent's C string ends at the decoded NUL ("a").
    assert parse_query_str("q=a%00b").find("q") == "a\0b"


# -- item 124: parse_query_str_flags ------------------------------------------------------


def test_given_a_repeated_key_find_gives_the_first_value_by_default() -> None:
    h = parse_query_str("q=test&q=test2")
    assert h.find("q") == "test"
    assert len(h) == 2


def test_given_last_val_find_gives_the_last_value_and_only_it_is_kept() -> None:
    h = parse_query_str("q=test&r=1&Q=test2", EVHTTP_URI_QUERY_LAST_VAL)
    assert h.find("q") == "test2"
    assert list(h) == [("r", "1"), ("Q", "test2")]


@pytest.mark.parametrize("query", ["q=test&q2", "q=test&&q2=test2", "q=test&=1&q2=test2"])
def test_given_no_nonconformant_flag_levent_refuses_lax_queries(query: str) -> None:
    with pytest.raises(ValueError):
        parse_query_str(query)


@pytest.mark.parametrize(
    "query,expected",
    [
        ("q=test&q2", [("q", "test"), ("q2", "")]),
        ("q=test&&q2=test2", [("q", "test"), ("q2", "test2")]),
        ("q=test&=1&q2=test2", [("q", "test"), ("q2", "test2")]),
    ],
)
def test_given_nonconformant_levent_fills_missing_values_and_skips_empty_keys(
    query: str, expected: list[tuple[str, str]]
) -> None:
    assert list(parse_query_str(query, EVHTTP_URI_QUERY_NONCONFORMANT)) == expected


# -- item 125: evhttp_uri_parse accepts ---------------------------------------------------


@pytest.mark.parametrize(
    "s,expected",
    [
        (
            "http://www.test.com/?q=t%33est",
            ("http", None, "www.test.com", -1, "/", "q=t%33est", None),
        ),
        ("http://%77ww.test.com", ("http", None, "%77ww.test.com", -1, "", None, None)),
        ("http://www.test.com?q=test", ("http", None, "www.test.com", -1, "", "q=test", None)),
        ("http://www.test.com#fr?ed", ("http", None, "www.test.com", -1, "", None, "fr?ed")),
        ("http://8000/", ("http", None, "8000", -1, "/", None, None)),
        ("http://:8000/", ("http", None, "", 8000, "/", None, None)),
        ("http://www.test.com:/", ("http", None, "www.test.com", -1, "/", None, None)),
        ("http://www.test.com:", ("http", None, "www.test.com", -1, "", None, None)),
        ("mailto:foo@bar", ("mailto", None, None, -1, "foo@bar", None, None)),
        ("ftp://[::1]:999/?q=test", ("ftp", None, "[::1]", 999, "/", "q=test", None)),
        ("file:///etc/passwd", ("file", None, "", -1, "/etc/passwd", None, None)),
        ("//www.test.com/x", (None, None, "www.test.com", -1, "/x", None, None)),
        ("", (None, None, None, -1, "", None, None)),
        ("?q=1", (None, None, None, -1, "", "q=1", None)),
        ("a/b:c", (None, None, None, -1, "a/b:c", None, None)),
        (
            "scheme://user:pass@[v7.x:y]:0000080/p;a?q/?#f/?",
            ("scheme", "user:pass", "[v7.x:y]", 80, "/p;a", "q/?", "f/?"),
        ),
        ("http://[1:2:3:4::]/", ("http", None, "[1:2:3:4::]", -1, "/", None, None)),
        (
            "http://[::ffff:1.2.3.4]:65535",
            ("http", None, "[::ffff:1.2.3.4]", 65535, "", None, None),
        ),
    ],
)
def test_given_a_valid_uri_levent_splits_it_without_decoding(
    s: str, expected: tuple[object, ...]
) -> None:
    assert parts(Uri.parse(s)) == expected


def test_given_strip_brackets_levent_drops_the_brackets_of_an_ip_literal() -> None:
    u = Uri.parse("ftp://[::1]:999/?q=test", EVHTTP_URI_HOST_STRIP_BRACKETS)
    assert (u.host, u.port) == ("::1", 999)
    assert u.join() == "ftp://[::1]:999/?q=test"
    assert Uri.parse("http://www.x.org/", EVHTTP_URI_HOST_STRIP_BRACKETS).host == "www.x.org"


def test_given_the_unix_socket_flag_levent_parses_the_socket_form() -> None:
    u = Uri.parse("http://unix:/path/to.sock:/request/path?a=b", EVHTTP_URI_UNIX_SOCKET)
    assert (u.scheme, u.host, u.unixsocket, u.port) == ("http", None, "/path/to.sock", -1)
    assert (u.path, u.query) == ("/request/path", "a=b")
    assert u.join() == "http://unix:/path/to.sock:/request/path?a=b"


def test_given_the_unix_socket_form_with_userinfo_or_an_at_sign_levent_keeps_them_apart() -> None:
    u = Uri.parse("http://me@unix:/s.sock:/p", EVHTTP_URI_UNIX_SOCKET)
    assert (u.userinfo, u.unixsocket, u.path) == ("me", "/s.sock", "/p")
    u = Uri.parse("http://unix:@abstract:", EVHTTP_URI_UNIX_SOCKET)
    assert (u.userinfo, u.unixsocket, u.path) == (None, "@abstract", "")


@pytest.mark.parametrize(
    "s", ["http://unix:/no/colon", "http://unix::/p", "http://unix:/s:relative"]
)
def test_given_a_broken_unix_socket_form_levent_refuses_it(s: str) -> None:
    with pytest.raises(ValueError):
        Uri.parse(s, EVHTTP_URI_UNIX_SOCKET)


def test_given_no_unix_socket_flag_unix_is_just_a_host() -> None:
    u = Uri.parse("http://unix:/path/to.sock:/request/path")
    assert (u.host, u.unixsocket, u.path) == ("unix", None, "/path/to.sock:/request/path")


# -- item 126: evhttp_uri_parse rejects ---------------------------------------------------

REJECTED = [
    "http://www.\x01.test.com/",
    "http://www.%7test.com/",
    "http://www.test.com:x/",
    "h%3ttp://www.test.com/",
    "99:99/foo",
    ":999x",
    ":x",
    "[hello-there]",
    "http://[hello-there]/",
    "http://[::1]]/",
    "http://[::1/",
    "http://[/",
    "http://[v.foo]/",
    "http://[v5]/",
    "http://[]/",
    "http://f%0red@www.example.com/",
    "http://www.example.com:" + "9" * 40 + "/",
    "http://www.example.com:65536/",
    "http://www.example.com:1:2/",
    ":hihi",
    "://www.example.com/",
    "http://x/a b",
    "http://x/?a b",
    "http://x/#a b",
    "http://x/a\x7f",
    "http://x/#a#b",
    "http://x/a\0b",
    "http://x/\xe9",
]


@pytest.mark.parametrize("s", REJECTED)
def test_given_a_malformed_uri_levent_refuses_it(s: str) -> None:
    with pytest.raises(ValueError, match="invalid URI"):
        Uri.parse(s)


@pytest.mark.parametrize(
    "s,path,query,fragment",
    [
        ("http://x/a b", "/a b", None, None),
        ("http://x/?a b", "/", "a b", None),
        ("http://x/#a#b c", "/", None, "a#b c"),
        ("http://x/\xe9\x01?\x7f", "/\xe9\x01", "\x7f", None),
    ],
)
def test_given_nonconformant_levent_allows_odd_characters_in_path_query_fragment(
    s: str, path: str, query: str | None, fragment: str | None
) -> None:
    u = Uri.parse(s, NC)
    assert (u.path, u.query, u.fragment) == (path, query, fragment)


@pytest.mark.parametrize("s", ["http://www.\x01.test.com/", "http://x/a\0b", "99:99/a b"])
def test_given_nonconformant_levent_still_refuses_a_bad_authority_or_nul(s: str) -> None:
    with pytest.raises(ValueError):
        Uri.parse(s, NC)


def test_given_a_refused_uri_the_message_says_what_and_where() -> None:
    with pytest.raises(ValueError, match=r"' ' is not allowed in path \(offset 10\)"):
        Uri.parse("http://x/a b")
    with pytest.raises(ValueError, match="malformed %-escape in host"):
        Uri.parse("http://www.%7test.com/")
    with pytest.raises(ValueError, match=r"port .* out of range"):
        Uri.parse("http://x:99999/")


# -- item 127: setters and join ---------------------------------------------------------


@pytest.mark.parametrize(
    "component,value",
    [
        ("scheme", ""),
        ("scheme", "33"),
        ("scheme", "hi!"),
        ("userinfo", "hello@"),
        ("host", "[1.2.3.4]"),
        ("host", "["),
        ("host", "www.[foo].com"),
        ("host", "::1"),
        ("port", -3),
        ("path", "/a?b"),
        ("path", "/a b"),
        ("query", "a#b"),
        ("fragment", "a#b"),
        ("unixsocket", "a:b"),
        ("unixsocket", ""),
    ],
)
def test_given_a_malformed_component_the_setter_refuses_it(
    component: str, value: str | int
) -> None:
    u = Uri()
    with pytest.raises(ValueError):
        setattr(u, component, value)


@pytest.mark.parametrize(
    "component,value",
    [
        ("scheme", "git+ssh"),
        ("userinfo", ""),
        ("userinfo", "a:b%20"),
        ("host", "[1:2:3:4::]"),
        ("host", "[v7.wobblewobble]"),
        ("host", ""),
        ("port", 65535),
        ("port", -1),
        ("path", ""),
        ("path", "hi_mom"),
        ("query", "a?b/c"),
        ("fragment", "here?i?am"),
        ("unixsocket", "/tmp/x.sock"),
    ],
)
def test_given_a_valid_component_the_setter_stores_it(component: str, value: str | int) -> None:
    u = Uri()
    setattr(u, component, value)
    assert getattr(u, component) == value


def test_given_none_the_setters_clear_the_component() -> None:
    u = Uri.parse("http://u@h:1/p?q#f")
    for name in ("scheme", "userinfo", "host", "path", "query", "fragment"):
        setattr(u, name, None)
    u.port = -1
    assert u == Uri()


def test_given_a_port_above_65535_levent_refuses_it() -> None:
    # Deliberate difference: libevent's setter accepts any int >= -1, though its
    # parser would refuse the joined result.
    with pytest.raises(ValueError):
        Uri().port = 65536


def test_given_nonconformant_flags_the_setters_allow_odd_characters() -> None:
    u = Uri(flags=NC)
    u.path = "/a b"
    u.query = "x y"
    u.fragment = "a#b"
    assert u.join() == "/a b?x y#a#b"
    with pytest.raises(ValueError):
        u.path = "/a?b"
    with pytest.raises(ValueError):
        u.query = "a#b"


def test_given_strip_brackets_the_host_setter_stores_the_bare_address() -> None:
    u = Uri(flags=EVHTTP_URI_HOST_STRIP_BRACKETS, scheme="http", host="[::1]", port=8080, path="/")
    assert u.host == "::1"
    u.host = u.host
    assert u.join() == "http://[::1]:8080/"
    with pytest.raises(ValueError):
        u.host = "1:2:x"


def test_given_a_host_and_a_path_without_leading_slash_join_refuses() -> None:
    u = Uri()
    u.host = "www.example.com"
    u.path = "hi_mom"
    with pytest.raises(ValueError, match="relative path"):
        u.join()


def test_given_components_join_reassembles_them_without_escaping() -> None:
    u = Uri(
        scheme="http", userinfo="u:p", host="[::1]", port=80, path="/a%20b", query="q", fragment=""
    )
    assert u.join() == str(u) == "http://u:p@[::1]:80/a%20b?q#"


def test_given_a_port_or_userinfo_without_host_join_drops_them() -> None:
    u = Uri(userinfo="me", port=80, path="/x")
    assert u.join() == "/x"


def test_given_a_long_uri_join_has_no_buffer_limit() -> None:
    # libevent returns NULL when the result outgrows the caller's buffer; a str does not.
    u = Uri.parse("http://www.example.com/" + "a" * 100_000)
    assert len(u.join()) == 100_023


def test_uri_value_protocol() -> None:
    u = Uri.parse("http://h/p")
    assert u == Uri.parse("http://h/p")
    assert u != Uri.parse("http://h/p", NC)
    assert u != "http://h/p"
    assert repr(u) == "Uri(scheme='http', host='h', path='/p')"
    assert repr(Uri(flags=NC, port=3)) == "Uri(flags=0x1, port=3)"
    u.set_flags(EVHTTP_URI_UNIX_SOCKET)
    assert u.flags == EVHTTP_URI_UNIX_SOCKET
    with pytest.raises(TypeError):
        hash(u)


def test_given_a_new_uri_every_component_is_absent() -> None:
    assert parts(Uri()) == (None, None, None, -1, None, None, None)
    assert Uri().join() == ""


# -- item 128: encoding ---------------------------------------------------------------


def test_given_a_space_uriencode_gives_percent_20_or_plus() -> None:
    assert uriencode(" ") == "%20"
    assert uriencode(" ", space_to_plus=True) == "+"
    assert encode_uri(" ") == "%20"


def test_given_high_bytes_uriencode_escapes_them_in_upper_case() -> None:
    assert uriencode(b"\xff\xf0\xe0") == "%FF%F0%E0"
    assert uriencode("\xe9") == "%C3%A9"  # a str is encoded as UTF-8 first


def test_given_reserved_characters_uriencode_escapes_them() -> None:
    assert uriencode("1+2=3") == "1%2B2%3D3"
    assert uriencode("1+2", space_to_plus=True) == "1%2B2"


def test_given_unreserved_characters_uriencode_leaves_them() -> None:
    s = string.ascii_letters + string.digits + "-._~"
    assert uriencode(s) == s


def test_given_a_nul_uriencode_escapes_it() -> None:
    assert uriencode(b"hello\0world") == "hello%00world"
    assert uriencode("hello\0world") == "hello%00world"


def test_given_malformed_escapes_uridecode_leaves_them() -> None:
    s = "%%xhello th+ere \xff"
    assert uridecode(s) == s
    assert uridecode("%4") == "%4"
    assert uridecode("%") == "%"


def test_given_decode_plus_uridecode_turns_plus_into_space() -> None:
    assert uridecode("plus+should%20work+", decode_plus=True) == "plus should work "
    assert uridecode("plus+should%20work+") == "plus+should work+"
    assert uridecode("%2B+", decode_plus=True) == "+ "


def test_given_lowercase_hex_uridecode_accepts_it() -> None:
    assert uridecode("%3a%3A") == "::"


def test_given_escaped_nuls_uridecode_bytes_returns_all_five_bytes() -> None:
    assert uridecode_bytes("%00%00x%00%00") == b"\0\0x\0\0"
    assert uridecode("%00%00x%00%00") == "\0\0x\0\0"


def test_given_utf8_escapes_uridecode_returns_the_character() -> None:
    assert uridecode("caf%C3%A9") == "café"
    # A byte that is not UTF-8 becomes a lone surrogate and encodes back to itself.
    assert uridecode("%FF") == "\udcff"
    assert uriencode(uridecode("%FF")) == "%FF"
    assert uridecode_bytes(b"%FF\xfe") == b"\xff\xfe"


def test_given_the_deprecated_decode_uri_plus_decodes_only_after_the_first_question_mark() -> None:
    assert decode_uri("/a+b?c+d?e+f") == "/a+b?c d?e f"
    assert decode_uri("/a+b%3Fc+d") == "/a+b?c+d"
    assert decode_uri("a%20b") == "a b"


def test_given_html_specials_htmlescape_escapes_them() -> None:
    assert htmlescape("<a href=\"x\">'&'</a>") == (
        "&lt;a href=&quot;x&quot;&gt;&#039;&amp;&#039;&lt;/a&gt;"
    )
    assert htmlescape("plain") == "plain"


# -- properties -----------------------------------------------------------------------

URI_ALPHABET = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?#[]% \x01\x7f\xe9"


@given(st.text())
def test_property_encode_then_decode_is_identity(s: str) -> None:
    assert uridecode(uriencode(s)) == s
    assert uridecode(uriencode(s, space_to_plus=True), decode_plus=True) == s


@given(st.binary())
def test_property_encode_then_decode_bytes_is_identity(b: bytes) -> None:
    assert uridecode_bytes(uriencode(b)) == b
    assert uridecode_bytes(uriencode(b, True), True) == b


@given(st.text(st.characters(codec=None, exclude_categories=())), st.booleans())
def test_property_decode_never_raises(s: str, plus: bool) -> None:
    out = uridecode(s, plus)
    assert len(out) <= len(s)
    decode_uri(s)


@given(st.binary(), st.booleans())
def test_property_decode_bytes_never_raises(b: bytes, plus: bool) -> None:
    assert len(uridecode_bytes(b, plus)) <= len(b)


@given(st.text(URI_ALPHABET), st.sampled_from([0, NC, EVHTTP_URI_UNIX_SOCKET, 0x0D]))
def test_property_parse_raises_only_value_error_and_join_reparses(s: str, flags: int) -> None:
    try:
        u = Uri.parse(s, flags)
    except ValueError:
        return
    assert Uri.parse(u.join(), flags) == u


def _from(alphabet: str, escapes: bool = True) -> st.SearchStrategy[str]:
    pieces = st.sampled_from(list(alphabet))
    if escapes:
        pieces = pieces | st.sampled_from(["%41", "%2f", "%C3", "%00"])
    return st.lists(pieces, max_size=8).map("".join)


_UNRES = string.ascii_letters + string.digits + "-._~"
_SUB = "!$&'()*+,;="
_schemes = st.from_regex(r"\A[A-Za-z][A-Za-z0-9+.\-]{0,6}\Z")
_regnames = _from(_UNRES + _SUB)
_ip6 = st.ip_addresses(v=6).map(lambda a: f"[{a}]")
_ipfuture = _from(_UNRES + _SUB + ":", escapes=False).map(lambda t: f"[v1F.{t}]")
_segments = _from(_UNRES + _SUB + ":@")
_queries = _from(_UNRES + _SUB + ":@/?")


@st.composite
def valid_uris(draw: st.DrawFn) -> Uri:
    flags = draw(st.sampled_from([0, EVHTTP_URI_HOST_STRIP_BRACKETS, EVHTTP_URI_UNIX_SOCKET]))
    u = Uri(flags=flags)
    u.scheme = draw(st.none() | _schemes)
    unix = flags & EVHTTP_URI_UNIX_SOCKET
    # A socket path joins to "//unix:...:", which reads back as one only under the flag.
    authority = draw(st.sampled_from(["none", "host", "unix"] if unix else ["none", "host"]))
    segments = draw(st.lists(_segments, max_size=4))
    if authority == "none":
        path = "/".join(segments)
        # Without an authority a path may not start with "//", and a relative one
        # may not have ':' in its first segment.
        assume(not path.startswith("//"))
        if u.scheme is None:
            assume(":" not in path.partition("/")[0])
    else:
        u.userinfo = draw(st.none() | _from(_UNRES + _SUB + ":"))
        # Under UNIX_SOCKET a userinfo starting "unix:" reads back as a socket path.
        assume(not (unix and (u.userinfo or "").startswith("unix:")))
        if authority == "host":
            u.host = draw(_regnames | _ip6 | _ipfuture)
            u.port = draw(st.sampled_from([-1, 0, 80, 65535]))
        else:
            u.unixsocket = "/" + draw(_from(_UNRES + "/@", escapes=False))
        path = "".join("/" + seg for seg in segments)
    u.path = path
    u.query = draw(st.none() | _queries)
    u.fragment = draw(st.none() | _queries)
    return u


@given(valid_uris())
def test_property_parse_of_join_is_identity(u: Uri) -> None:
    assert Uri.parse(u.join(), u.flags) == u


@given(st.lists(st.tuples(_from(_UNRES + "%+"), _from(_UNRES + "%+=")), max_size=5))
def test_property_query_of_encoded_pairs_parses_back(pairs: list[tuple[str, str]]) -> None:
    pairs = [(k, v) for k, v in pairs if k]
    query = "&".join(f"{k}={uriencode(v, True)}" for k, v in pairs)
    assert list(parse_query_str(query)) == pairs


# -- conformance with libevent 2.1 ------------------------------------------------------


@pytest.fixture(scope="module")
def clib() -> None:
    C.lib()  # skips the test where libevent cannot be loaded


def latin1(s: str) -> bytes:
    return s.encode("latin-1")


def levent_as_c(s: str, flags: int) -> C.CUri | None:
    """levent's parse of ``s`` in the shape :func:`C.uri_parse` returns."""
    try:
        u = Uri.parse(s, flags)
    except ValueError:
        return None

    def b(x: str | None) -> bytes | None:
        return None if x is None else latin1(x)

    try:
        joined: bytes | None = latin1(u.join())
    except ValueError:
        joined = None
    return C.CUri(
        b(u.scheme), b(u.userinfo), b(u.host), u.port, b(u.path), b(u.query), b(u.fragment), joined
    )


ITEM_URIS = [
    "http://www.test.com/?q=t%33est",
    "http://%77ww.test.com",
    "http://www.test.com?q=test",
    "http://8000/",
    "http://:8000/",
    "http://www.test.com:/",
    "mailto:foo@bar",
    "ftp://[::1]:999/?q=test",
    "file:///etc/passwd",
    "http://unix:/path/to.sock:/request/path",
    "scheme://user:pass@[v7.x:y]:0000080/p;a?q/?#f/?",
    "http://[v5.]/",
    "http://[V5.x]/",
    "http://[1:2:3:4:5:6:7:8:9]/",
    "http://[" + "0" * 70 + "::1]/",
    "http://u@/",
    "http://@/",
    "//a@b@c/",
    "a:b:c",
    "1a:b",
    "",
    "#",
    "?#?",
    *REJECTED,
]


def random_uris(seed: int, count: int) -> Iterator[str]:
    """Strings built from URI pieces with occasional odd bytes, seeded for replay."""
    rng = random.Random(seed)
    pieces = [
        *string.ascii_letters[:6],
        *string.digits[:4],
        *"-._~!$&'()*+,;=:@/?#[]%",
        "%41",
        "%4",
        "%zz",
        "%C3%A9",
        " ",
        "\x01",
        "\x7f",
        "\xe9",
        "\xff",
        "http:",
        "//",
        "[::1]",
        "[v7.x]",
        "[::1",
        "]",
        ":80",
        ":",
        "unix:",
        "user@",
    ]
    for _ in range(count):
        yield "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
    templates = ["{s}://{u}{h}{p}{path}{q}{f}", "//{h}{p}{path}", "{s}:{path}{q}", "{path}{q}{f}"]
    for _ in range(count):

        def pick(*options: str) -> str:
            # Mostly the option, sometimes with a random piece glued on.
            chosen: str = rng.choice(options) + rng.choice(pieces) * rng.randint(0, 1)
            return chosen

        yield rng.choice(templates).format(
            s=pick("http", "h1+.-", "1x", ""),
            u=pick("", "", "me@", "me:pw@", "m%41@", "m%4@", "a b@"),
            h=pick("example.com", "", "[::1]", "[1::2:3]", "[v1.a]", "%41", "bad host", "[x]"),
            p=pick("", ":", ":8080", ":65536", ":0", ":x"),
            path=pick("", "/", "/a/b", "/a b", "/%7e", "a:b", "//x", "/\xe9"),
            q=pick("", "?", "?a=b&c", "?a b", "?a?b"),
            f=pick("", "#", "#f", "#a#b", "#a b"),
        )


@pytest.mark.parametrize("flags", [0, NC])
def test_conformance_parse_item_and_random_corpus(clib: None, flags: int) -> None:
    corpus = [*ITEM_URIS, *random_uris(1234 + flags, 400)]
    mismatches = []
    for s in corpus:
        if "\0" in s:  # a C string would stop at it; levent refuses it (tested above)
            continue
        ours, theirs = levent_as_c(s, flags), C.uri_parse(latin1(s), flags)
        if ours != theirs:
            mismatches.append((s, ours, theirs))
    assert not mismatches, mismatches[:5]


@settings(max_examples=300, deadline=None)
@given(st.text(URI_ALPHABET, max_size=30), st.sampled_from([0, NC]))
def test_conformance_parse_hypothesis(clib: None, s: str, flags: int) -> None:
    assert levent_as_c(s, flags) == C.uri_parse(latin1(s), flags)


def test_conformance_join_into_a_three_byte_buffer_fails_in_c(clib: None) -> None:
    assert C.uri_join_limit(b"http://www.example.com/", 3) is None
    assert C.uri_join_limit(b"http://www.example.com/", 24) == b"http://www.example.com/"
    # levent has no buffer: the same URI simply joins.
    assert Uri.parse("http://www.example.com/").join() == "http://www.example.com/"


SETTER_VALUES: dict[str, list[str]] = {
    "scheme": ["", "33", "hi!", "http", "a+b-c.d", "a b", "\xe9"],
    "userinfo": ["", "hello@", "a:b", "%41", "%4", "a b", "!$&'()*+,;="],
    "host": [
        "",
        "[1.2.3.4]",
        "[",
        "[]",
        "www.[foo].com",
        "[1:2:3:4::]",
        "[v7.wobblewobble]",
        "[v7.]",
        "[v.x]",
        "[::1",
        "::1",
        "%41",
        "%4",
        "a b",
        "[::1]]",
        "8000",
    ],
    "path": ["", "/a?b", "hi_mom", "/a b", "//x", "/%7e", "/%7", ":", "/\xe9", "/a#b"],
    "query": ["", "a#b", "a?b/c", "a b", "%zz", "a=b&c"],
    "fragment": ["", "a#b", "here?i?am", "a b", "%41"],
}


@pytest.mark.parametrize("flags", [0, NC])
@pytest.mark.parametrize("component", sorted(SETTER_VALUES))
def test_conformance_setters(clib: None, component: str, flags: int) -> None:
    for value in SETTER_VALUES[component]:
        u = Uri(flags=flags)
        try:
            setattr(u, component, value)
            ours = True
        except ValueError:
            ours = False
        assert ours == C.uri_set(component, latin1(value), flags), (component, value)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(SETTER_VALUES)),
    st.text(URI_ALPHABET + "v", max_size=12),
    st.sampled_from([0, NC]),
)
def test_conformance_setters_hypothesis(clib: None, component: str, value: str, flags: int) -> None:
    u = Uri(flags=flags)
    try:
        setattr(u, component, value)
        ours = True
    except ValueError:
        ours = False
    assert ours == C.uri_set(component, latin1(value), flags)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("0123456789abcdefABCDEF:.v[]x%")), max_size=14))
def test_conformance_ip_literals_hypothesis(clib: None, text: str) -> None:
    # Bracketed hosts go through inet_pton on both sides; compare the setter and parser.
    for host in (text, f"[{text}]"):
        u = Uri()
        try:
            u.host = host
            ours = True
        except ValueError:
            ours = False
        assert ours == C.uri_set("host", latin1(host))
        s = f"http://{host}/"
        assert levent_as_c(s, 0) == C.uri_parse(latin1(s))


@pytest.mark.parametrize("port", [-3, -2, -1, 0, 80, 65535])
def test_conformance_port_setter(clib: None, port: int) -> None:
    u = Uri()
    try:
        u.port = port
        ours = True
    except ValueError:
        ours = False
    assert ours == C.uri_set("port", port)


def test_conformance_port_setter_deliberate_difference(clib: None) -> None:
    # libevent accepts 65536; levent refuses it (see test_given_a_port_above_65535...).
    assert C.uri_set("port", 65536)


@pytest.mark.parametrize(
    "parts_",
    [
        {"host": "x", "path": "hi_mom"},
        {"host": "x", "path": "/ok"},
        {"userinfo": "u", "port": 8, "path": "/p"},
        {"scheme": "s", "host": "", "port": 0, "query": "", "fragment": ""},
        {"path": "//x"},
        {},
    ],
)
def test_conformance_join_of_built_uris(clib: None, parts_: dict[str, str | int]) -> None:
    theirs = C.uri_build({k: latin1(v) if isinstance(v, str) else v for k, v in parts_.items()})
    assert theirs is not None
    try:
        ours: bytes | None = latin1(Uri(**parts_).join())  # type: ignore[arg-type]
    except ValueError:
        ours = None
    assert ours == theirs.joined


ENCODE_CORPUS = [
    b"",
    b" ",
    b"\xff\xf0\xe0",
    b"1+2=3",
    b"-._~",
    b"hello\0world",
    bytes(range(256)),
    b"a b+c",
    b"%41",
]


def test_conformance_uriencode(clib: None) -> None:
    rng = random.Random(7)
    corpus = ENCODE_CORPUS + [rng.randbytes(rng.randint(0, 20)) for _ in range(200)]
    for b in corpus:
        for plus in (False, True):
            assert latin1(uriencode(b, plus)) == C.uriencode(b, plus), (b, plus)
        # encode_uri takes a str, which reaches C as UTF-8; C stops at a NUL.
        s = b.split(b"\0")[0].decode("latin-1")
        assert latin1(encode_uri(s)) == C.encode_uri(s.encode("utf-8")), s


DECODE_PIECES = [
    "%",
    "%4",
    "%41",
    "%4a",
    "%zz",
    "%00",
    "%C3%A9",
    "%FF",
    "+",
    "?",
    "a",
    " ",
    "\xe9",
    "%2B",
    "%3F",
]


def decode_corpus() -> list[str]:
    rng = random.Random(99)
    fixed = [
        "%%xhello th+ere \xff",
        "plus+should%20work+",
        "%00%00x%00%00",
        "%3a%3A",
        "/a+b?c+d?e+f",
        "%",
        "%4",
        "%41",
    ]
    return fixed + [
        "".join(rng.choice(DECODE_PIECES) for _ in range(rng.randint(0, 10))) for _ in range(300)
    ]


def test_conformance_uridecode(clib: None) -> None:
    for s in decode_corpus():
        raw = s.encode("utf-8")
        for plus in (False, True):
            theirs = C.uridecode(raw, plus)
            assert uridecode_bytes(raw, plus) == theirs, (s, plus)
            assert uridecode_bytes(s, plus) == theirs, (s, plus)
            assert uridecode(s, plus).encode("utf-8", "surrogateescape") == theirs, (s, plus)


def test_conformance_decode_uri(clib: None) -> None:
    for s in decode_corpus():
        ours = decode_uri(s).encode("utf-8", "surrogateescape")
        # The C result is a C string: it ends at the first decoded NUL.
        assert ours.split(b"\0")[0] == C.decode_uri(s.encode("utf-8")), s


def test_conformance_htmlescape(clib: None) -> None:
    for s in ["", "plain", "<a href=\"x\">'&'</a>", "&&&<<>>", "\xe9<"]:
        assert htmlescape(s).encode("utf-8") == C.htmlescape(s.encode("utf-8")), s


QUERY_PIECES = ["q", "k2", "=", "&", "+", "%20", "%0A", "%zz", "%00", "v", "\xe9", "Q"]


def query_corpus() -> list[str]:
    rng = random.Random(5)
    fixed = [
        "q=test&foo=bar",
        "q=test+foo",
        "q=%0A",
        "q=test&&q2",
        "q&q2=foo",
        "q=foo&q2",
        "q=&q2=&q3=",
        "http://www.test.com/?q=test",
        "q=1&",
        "&",
        "q=test&q=test2",
        "q=test&=1&q2=test2",
        "a=b=c",
        "",
    ]
    return fixed + [
        "".join(rng.choice(QUERY_PIECES) for _ in range(rng.randint(0, 12))) for _ in range(300)
    ]


def as_c_pairs(h: Headers) -> list[tuple[bytes, bytes]]:
    # libevent's values are C strings: they end at a decoded NUL (levent keeps it).
    return [(k.encode("utf-8"), v.encode("utf-8", "surrogateescape").split(b"\0")[0]) for k, v in h]


def test_conformance_parse_query_str(clib: None) -> None:
    for s in query_corpus():
        try:
            ours: list[tuple[bytes, bytes]] | None = as_c_pairs(parse_query_str(s))
        except ValueError:
            ours = None
        assert ours == C.parse_query_str(s.encode("utf-8")), s


def test_conformance_parse_query_of_whole_uris(clib: None) -> None:
    for q in query_corpus():
        for s in (f"http://x/?{q}", f"?{q}", f"/p?{q}#f", q):
            try:
                ours: list[tuple[bytes, bytes]] | None = as_c_pairs(parse_query(s))
            except ValueError:
                ours = None
            assert ours == C.parse_query(s.encode("utf-8")), s


def test_conformance_find_header_is_case_insensitive_and_first(clib: None) -> None:
    for query, key in [("Q=1&q=2", "q"), ("q=1", "Q"), ("a=1", "b")]:
        ours = parse_query_str(query).find(key)
        theirs = C.find_header(query.encode(), key.encode())
        assert (ours.encode() if ours is not None else None) == theirs


def test_conformance_parse_query_str_flags(clib: None) -> None:
    if not C.has_parse_query_str_flags():
        pytest.skip("this libevent (2.1) lacks evhttp_parse_query_str_flags (2.2)")
    for s in query_corpus():
        for flags in (0, 1, 2, 3):
            try:
                ours: list[tuple[bytes, bytes]] | None = as_c_pairs(parse_query_str(s, flags))
            except ValueError:
                ours = None
            assert ours == C.parse_query_str_flags(s.encode("utf-8"), flags), (s, flags)
