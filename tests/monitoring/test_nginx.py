"""deploy/nginx.conf, read as nginx reads it: what each proxied location really sends
upstream (nginx inherits proxy_set_header from the server block only into locations
that set none), the request-id rule the application uses, and the error shape on what
nginx answers itself. tests/e2e/test_nginx_errors.py runs the file in a real nginx."""

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from monitoring.logs import request_id_for
from taskmanager import exceptions
from taskmanager.settings import BASE_DIR

NGINX_CONF = BASE_DIR / "deploy" / "nginx.conf"
UPLOAD_MAX_BYTES_DEFAULT = 5 * 1024 * 1024
# Room for the multipart boundary, part headers and a few small fields.
MULTIPART_OVERHEAD = 64 * 1024


@dataclass
class Block:
    name: str
    args: list[str]
    directives: list[tuple[str, list[str]]] = field(default_factory=list)
    blocks: list["Block"] = field(default_factory=list)

    def values(self, name: str) -> list[list[str]]:
        return [args for directive, args in self.directives if directive == name]

    def value(self, name: str) -> list[str]:
        (args,) = self.values(name)
        return args

    def children(self, name: str) -> list["Block"]:
        return [block for block in self.blocks if block.name == name]


# Whitespace, a comment, a quoted string (single or double), a brace or semicolon, a word.
_TOKEN = re.compile(
    r"""\s+|#[^\n]*|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};'"#]+)"""
)


def parse(text: str) -> Block:
    root = Block("main", [])
    stack = [root]
    words: list[str] = []
    for match in _TOKEN.finditer(text):
        single, double, punctuation, bare = match.groups()
        if punctuation is None and bare is None and single is None and double is None:
            continue  # whitespace or a comment
        if punctuation == "{":
            block = Block(words[0], words[1:])
            stack[-1].blocks.append(block)
            stack.append(block)
            words = []
        elif punctuation == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        elif punctuation == ";":
            stack[-1].directives.append((words[0], words[1:]))
            words = []
        else:
            words.append(next(part for part in (single, double, bare) if part is not None))
    assert len(stack) == 1 and not words, "unbalanced braces"
    return root


def read(path: Path = NGINX_CONF) -> Block:
    return parse(path.read_text())


def server(config: Block) -> Block:
    (block,) = config.children("server")
    return block


def location(config: Block, *args: str) -> Block:
    (block,) = [block for block in server(config).children("location") if block.args == list(args)]
    return block


def proxied_headers(config: Block, block: Block) -> dict[str, str]:
    """The headers a location really sets upstream: its own proxy_set_header lines if
    it has any, otherwise (and only then) the server block's."""
    own = block.values("proxy_set_header") or server(config).values("proxy_set_header")
    return {name: " ".join(value) for name, *value in own}


def map_block(config: Block, variable: str) -> Block:
    (block,) = [block for block in config.children("map") if block.args[1] == variable]
    return block


# --- what reaches gunicorn and daphne ----------------------------------------------


@pytest.mark.parametrize("path", ["/", "/ws/"])
def test_each_proxied_location_sends_the_host_the_client_asked_for(path):
    config = read()

    headers = proxied_headers(config, location(config, path))

    # Without it nginx sends the upstream's name (taskmanager_web), which Django's
    # ALLOWED_HOSTS refuses: every request through nginx would be a 400. And with the
    # port ($host has none): compose publishes 8080, so links (`next`, download URLs)
    # and the admin's CSRF origin check need localhost:8080, not localhost.
    assert headers["Host"] == "$http_host"


@pytest.mark.parametrize("path", ["/", "/ws/"])
def test_each_proxied_location_forwards_scheme_and_request_id(path):
    config = read()

    headers = proxied_headers(config, location(config, path))

    assert headers["X-Forwarded-Proto"] == "$taskmanager_forwarded_proto"
    assert headers["X-Request-ID"] == "$taskmanager_request_id"


def test_gunicorn_gets_the_address_nginx_saw_as_the_last_forwarded_hop():
    # The app trusts the last hop of X-Forwarded-For (NUM_PROXIES=1 in compose). A
    # client's own header passed through unchanged would choose its throttle bucket.
    config = read()

    headers = proxied_headers(config, location(config, "/"))

    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"


def test_daphne_gets_only_the_address_nginx_saw():
    # daphne --proxy-headers reads the first hop, which a client can write.
    config = read()

    headers = proxied_headers(config, location(config, "/ws/"))

    assert headers["X-Forwarded-For"] == "$remote_addr"


def test_the_websocket_location_upgrades_and_outlives_the_ping_interval():
    config = read()
    ws = location(config, "/ws/")
    headers = proxied_headers(config, ws)

    assert ws.value("proxy_pass") == ["http://taskmanager_ws"]
    assert ws.value("proxy_http_version") == ["1.1"]
    assert headers["Upgrade"] == "$http_upgrade"
    assert headers["Connection"] == "$connection_upgrade"
    # daphne pings every 20 s; nginx must not cut a quiet socket before that.
    for timeout in ("proxy_read_timeout", "proxy_send_timeout"):
        assert ws.value(timeout) == ["1h"]


def test_the_websocket_location_keeps_its_token_out_of_nginx_error_lines():
    # "connect() failed ... request: "GET /ws/tasks/?token=..." is an error-level line.
    ws = location(read(), "/ws/")

    assert ws.value("error_log")[-1] == "crit"


# --- request ids -------------------------------------------------------------------


@pytest.mark.parametrize(
    "presented",
    ["edge-7f3a.42:b_c", "a", "x" * 128, "x" * 129, "-lead", "with space", "ünï", 'q"', ""],
)
def test_nginx_keeps_exactly_the_request_ids_the_application_keeps(presented):
    # Otherwise nginx logs and returns (on /ws/) an id the application replaced.
    (pattern, kept), (default, generated) = map_block(read(), "$taskmanager_request_id").directives
    assert pattern.startswith("~") and kept == ["$http_x_request_id"]
    assert (default, generated) == ("default", ["$request_id"])

    nginx_keeps = re.search(pattern[1:], presented) is not None

    assert nginx_keeps == (request_id_for(presented) == presented)


# --- what nginx answers itself -----------------------------------------------------


def test_the_body_limit_leaves_room_for_the_upload_limit_and_its_envelope():
    limit = server(read()).value("client_max_body_size")[0]
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", limit).groups()
    size = int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]

    assert size >= UPLOAD_MAX_BYTES_DEFAULT + MULTIPART_OVERHEAD


# Each status nginx may answer itself, and the body it answers with: the application's
# own message where the application has one for the same error.
NGINX_ERRORS = {
    "400": ("bad_request", exceptions.BAD_REQUEST_MESSAGE),
    "494": ("bad_request", "The request headers are too large."),
    "404": ("not_found", exceptions.NOT_FOUND_MESSAGE),
    "405": ("method_not_allowed", "This method is not allowed here."),
    "413": ("payload_too_large", exceptions.PAYLOAD_TOO_LARGE_MESSAGE),
    "414": ("uri_too_long", "The URL is too long."),
    "500": ("server_error", exceptions.SERVER_ERROR_MESSAGE),
    "501": (
        "not_implemented",
        "The request uses a Transfer-Encoding this server does not support; send the body"
        " with a Content-Length or chunked.",
    ),
    "502": ("service_unavailable", "The service is unavailable; try again later."),
    "503": ("service_unavailable", "The service is unavailable; try again later."),
    "504": ("service_unavailable", "The service is unavailable; try again later."),
    "505": ("http_version_not_supported", "This HTTP version is not supported; use HTTP/1.1."),
}


def error_pages(config: Block) -> dict[str, str]:
    return {
        status: args[-1] for args in server(config).values("error_page") for status in args[:-1]
    }


@pytest.mark.parametrize("status", list(NGINX_ERRORS))
def test_what_nginx_answers_itself_is_the_applications_error_bytes(status):
    config = read()
    code, message = NGINX_ERRORS[status]

    # A URI, not a named location (a request line that did not parse has no URI to
    # carry into one), and no "=": the client keeps nginx's status with this body.
    page = error_pages(config)[status]
    assert page.startswith("/.errors/")
    block = location(config, "=", page)
    assert block.values("internal") == [[]]
    assert block.value("default_type") == ["application/json"]
    returned, body = block.value("return")
    # 494 is nginx's own name for a 400 ("request header too large").
    assert returned == {"494": "400", "502": "503", "504": "503"}.get(status, status)
    assert body.encode() == exceptions.error_json(code, message)
    headers = [args[0] for args in block.values("add_header")]
    assert "X-Request-ID" in headers


def test_an_unavailable_upstream_says_when_to_retry():
    config = read()

    block = location(config, "=", error_pages(config)["502"])

    assert ["Retry-After", "5", "always"] in block.values("add_header")


def test_metrics_are_not_served_to_the_outside_and_answer_the_404_page():
    block = location(read(), "/monitoring/metrics/")

    # No body of its own: the 404 error page answers, in the application's bytes.
    assert block.value("return") == ["404"]


def test_the_parser_sees_what_nginx_sees():
    config = parse(
        """
        # a comment { ; }
        server {
            proxy_set_header Host $host;
            location / { proxy_pass http://a; }
            location /b/ { proxy_set_header Upgrade $http_upgrade; return 404 '{"a": "b;c"}'; }
        }
        """
    )

    assert proxied_headers(config, location(config, "/")) == {"Host": "$host"}
    assert proxied_headers(config, location(config, "/b/")) == {"Upgrade": "$http_upgrade"}
    assert location(config, "/b/").value("return") == ["404", '{"a": "b;c"}']


def test_the_access_log_writes_a_calendar_feed_without_its_token():
    """A feed's address is its credential (exports): nginx logs the route, not it."""
    config = read()
    (logged,) = [
        block for block in config.children("map") if block.args[1] == "$taskmanager_logged_uri"
    ]
    (redacted,) = [
        args for name, args in config.directives if name == "log_format" and args[0] == "redacted"
    ]
    rules = dict(logged.directives)

    assert logged.args[0] == "$uri"
    assert rules["~^/calendar/"] == ["/calendar/<redacted>.ics"]
    assert rules["default"] == ["$uri"]
    assert "$taskmanager_logged_uri" in " ".join(redacted) and "$uri " not in " ".join(redacted)
