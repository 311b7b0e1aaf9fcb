"""The redactor's rules, value by value: what is searched for and what is left beside the mask.

* From 4 characters a value is searched for, and a line of a multi-line value from 8; the
  whole multi-line value is one mask, short lines included.
* Base64 (standard and URL-safe) is searched for without its padding, so an unpadded encoding
  (a JWT, a URL) is masked too and nothing of the encoding is left beside the mask.
* Inside a shell-quoted argument (`--password='...'`) a quote in the value is escaped as shlex
  does, and the value is still found.
* A registry login also masks the HTTP Basic auth of user:password.
* A secret that contains another (a DSN and its password) is masked whole, never around the
  inner one: the longest value is replaced first.
* A Secret shows its source, never its value.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Callable, Iterator

import pytest

from shipyard.secrets import MASK, Secret, forms, redact, register_login
from tests.support.secret_registry import secrets_forgotten_after


@pytest.fixture(autouse=True)
def forget_secrets() -> Iterator[None]:
    """Secrets a test creates are forgotten afterwards, so they mask nothing elsewhere."""
    with secrets_forgotten_after():
        yield


def test_a_value_of_four_characters_is_searched_for_and_three_are_not() -> None:
    """The documented minimum: shorter values would mask ordinary words."""
    Secret("wxyz")
    Secret("qrs")
    assert redact("the pin is wxyz") == f"the pin is {MASK}"
    assert redact("the pin is qrs") == "the pin is qrs"


def test_a_multi_line_value_is_one_mask_and_its_lines_from_eight_characters_alone() -> None:
    """A PEM key printed whole is one `***` (its short lines too: `abc` would stay visible
    between masks otherwise); a line of exactly 8 characters is found on its own."""
    value = "abc\n12345678\nthe-long-secret-line"
    Secret(value)
    assert redact(f"key:\n{value}\nend") == f"key:\n{MASK}\nend"
    assert redact("line 12345678 quoted") == f"line {MASK} quoted"
    assert redact("the-long-secret-line!") == f"{MASK}!"
    assert redact("abc") == "abc"


ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "standard": base64.b64encode,
    "url-safe": base64.urlsafe_b64encode,
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    ("value", "padding"),
    # `???` makes the two alphabets differ (/ and _); 11 bytes end in one `=`, 12 in none, and
    # 12 end in `X`, a base64 letter beside `=`
    [("???abcdefgh", "="), ("???abcdefghW", "")],
)
def test_base64_of_a_secret_is_masked_with_or_without_its_padding(
    encoding: str, value: str, padding: str
) -> None:
    """Only the padding may stay beside the mask: it says nothing of the value."""
    Secret(value)
    encoded = ENCODINGS[encoding](value.encode()).decode()
    assert encoded.endswith(padding)
    unpadded = encoded.rstrip("=")
    assert redact(f"token {unpadded} end") == f"token {MASK} end"
    assert redact(f"token {encoded} end") == f"token {MASK}{padding} end"


def test_a_secret_inside_a_shell_quoted_argument_is_masked() -> None:
    """Plans show commands through shlex: `--password=it's...` is quoted as a whole, the
    value's quote becoming '"'"' inside it."""
    Secret("it's-a-s3cret")
    command = shlex.join(["tool", "--password=it's-a-s3cret", "--user=ci"])
    assert redact(command) == f"tool '--password={MASK}' --user=ci"


@pytest.mark.parametrize("password", ["abcd", "0penSesame!"])
def test_a_registry_login_masks_its_basic_auth_header(password: str) -> None:
    """An HTTP library or a registry's error may print `Authorization: Basic base64(u:p)`;
    `robo:` is 5 bytes, so the password's own base64 is not inside it by alignment."""
    register_login("robo", Secret(password))
    header = base64.b64encode(f"robo:{password}".encode()).decode()
    padding = "=" * (len(header) - len(header.rstrip("=")))
    assert redact(f"Authorization: Basic {header}") == f"Authorization: Basic {MASK}{padding}"


def test_a_secret_containing_another_is_masked_whole() -> None:
    """A DSN holding a password: masking the password first would show the DSN around it
    (user, host, database)."""
    dsn = "postgres://app:pw-value-123@db.internal:5432/app"
    Secret("pw-value-123")
    Secret(dsn)
    assert redact(f"connecting to {dsn} now") == f"connecting to {MASK} now"
    assert redact("password pw-value-123") == f"password {MASK}"


def test_a_secret_shows_its_source_never_its_value() -> None:
    """str, repr and formatting never reveal the value; repr names where it came from, and a
    secret without a source has none (repr shows the mask)."""
    secret = Secret("hunter2-value", "env:DB_PASSWORD")
    assert secret.source == "env:DB_PASSWORD"
    assert repr(secret) == "Secret(env:DB_PASSWORD)"
    assert (str(secret), f"{secret}", f"{secret:>30}") == (MASK, MASK, MASK)
    assert secret.reveal() == "hunter2-value"
    anonymous = Secret("hunter2-value")
    assert anonymous.source == ""
    assert repr(anonymous) == f"Secret({MASK})"
    assert anonymous == secret
    assert anonymous != Secret("other-value")
    assert anonymous != "hunter2-value"
    assert not Secret("")


def test_a_value_broken_by_carriage_returns_alone_has_its_lines_masked_alone() -> None:
    """An old-Mac or a terminal's `\\r` is a line break too: a tool may print one line."""
    Secret("first-line-secret\rsecond-line-secret")
    assert redact("got first-line-secret only") == f"got {MASK} only"


def test_the_forms_of_a_login_add_its_basic_auth_to_the_passwords_own() -> None:
    """The Basic auth forms come on top of the password's own, not instead of them."""
    alone, as_login = forms("0penSesame!"), forms("0penSesame!", username="robo")
    header = base64.b64encode(b"robo:0penSesame!").decode()
    assert alone < as_login
    assert header.rstrip("=") in as_login
