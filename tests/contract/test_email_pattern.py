"""The schema's email pattern (taskmanager.schema.EMAIL) takes the addresses Django's
EmailValidator takes, the one DRF's EmailField runs on every email input: exactly,
but for a domain written in Unicode rather than punycode, which the server also takes.

Both ways, with addresses drawn by hypothesis: those the pattern matches, read as
schemathesis and the JSON Schema validators read it (ECMA: `\\w` and friends are
ASCII), and those drawn from Django's own expressions."""

import re
from typing import Any

import jsonschema_rs
import pytest
from django.core.exceptions import ValidationError
from django.core.validators import DomainNameValidator, EmailValidator, validate_email
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taskmanager.schema import EMAIL

# As schemathesis compiles a schema's pattern for drawing values from it.
DRAWN = re.compile(EMAIL[:-1] + r"\Z", re.ASCII)
# As schemathesis (and the JSON Schema validators) judge a value.
JUDGED = jsonschema_rs.Draft4Validator({"type": "string", "pattern": EMAIL})
MAX_LENGTH = 254  # the schema's maxLength of every email
EXAMPLES = settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def django_takes(address: str) -> bool:
    # The server lower-cases the domain first (accounts.usernames.normalize_email):
    # `LOCALHOST` is the allowed `localhost`.
    local, _, domain = address.rpartition("@")
    try:
        validate_email(f"{local}@{domain.lower()}")
    except ValidationError:
        return False
    return True


def pattern_takes(address: str) -> bool:
    matched = bool(DRAWN.match(address))
    assert JUDGED.is_valid(address) == matched, address  # one reading of the pattern
    return matched


@EXAMPLES
@given(st.from_regex(DRAWN, fullmatch=True).filter(lambda value: len(value) <= MAX_LENGTH))
def test_every_address_the_pattern_takes_django_takes(address: str) -> None:
    assert pattern_takes(address)
    assert django_takes(address), address


_USER = re.compile(EmailValidator.user_regex.pattern.replace(r"\Z", ""), re.IGNORECASE)
_DOMAIN = re.compile(
    DomainNameValidator.hostname_re
    + DomainNameValidator.domain_re
    + DomainNameValidator.tld_no_fqdn_re,
    re.IGNORECASE,
)
_LITERAL = re.compile(r"\[[A-Fa-f0-9:.]{1,40}\]")
# Near misses the expressions alone do not draw.
_DOMAINS_BY_HAND = ["localhost", "LocalHost", "[::1]", "[::ffff:1.2.3.4]", "[1.2.3.04]"]


def _django_expression_values(expression: re.Pattern[str]) -> Any:
    # Django's user expression is two alternatives under one `^...$`: match whole values.
    return st.from_regex(expression, fullmatch=True)


@EXAMPLES
@given(
    st.one_of(
        _django_expression_values(_USER),
        st.sampled_from(["a", "a.b", '"a b"', '"a\\ b"', "\u0131", "\u0130", ".a", "a..b"]),
    ),
    st.one_of(
        _django_expression_values(_DOMAIN),
        _django_expression_values(_LITERAL),
        st.sampled_from(_DOMAINS_BY_HAND),
    ),
)
def test_every_address_django_takes_the_pattern_takes(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assume(len(address) <= MAX_LENGTH)
    # What the pattern leaves to the server (test below).
    assume(domain.isascii())

    assert pattern_takes(address) == django_takes(address), address


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("zz@b.co", True),
        ("zz@b.c", False),  # `format: email` takes a one-letter top-level domain
        ("zz@b.c0", False),
        ("zz@b", False),
        ("zz@b-.co", False),
        ("zz@b..co", False),
        ("z.z@b.co", True),
        ("z..z@b.co", False),
        ('"z z"@b.co', False),
        ('"z\\ z"@b.co', True),
        ('"z@z"@b.co', True),
        ("zz@localhost", True),
        ("zz@[192.0.2.1]", True),
        ("zz@[192.0.2.256]", False),
        ("zz@[2001:db8::1]", True),
        ("zz@[1:2:3:4:5:6:7::8]", False),  # "::" stands for one group or more
        ("zz@[0000:0000:0000:0000:0000:0000:100.200.100.200]", False),  # past 39 characters
        ("zz@xn--bcher-kva.de", True),
        ("zz@b.xn--p1ai", True),
        (" zz@b.co", False),
        ("zz@b.co\n", False),
        ("zz@b.co\x00", False),
    ],
)
def test_the_pattern_and_django_agree_on_these(address: str, valid: bool) -> None:
    assert pattern_takes(address) is valid
    assert django_takes(address) is valid


@pytest.mark.parametrize("address", ["zz@b\u00fccher.de", "zz@\u4f8b\u3048.jp"])
def test_a_domain_in_unicode_is_left_to_the_server(address: str) -> None:
    # Django takes labels beyond ASCII; the pattern takes their punycode only (a
    # Unicode range costs schemathesis seconds per strategy it builds).
    assert not pattern_takes(address)
    assert django_takes(address)
