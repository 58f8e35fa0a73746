"""A local HTTP endpoint for webhook tests: it records every request and answers
from a script (status, headers, body, a delay, or a hold until the test releases
it), in threads of its own so that a held request does not stop the others.

    receiver.script("/slow", Reply(hold=gate), Reply(200))
    url = receiver.url("/slow")
    ...
    [request] = receiver.wait_for(1, path="/slow")
"""

import http.server
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

# A held request is answered after this at the latest: a failing test never hangs.
HOLD_LIMIT_SECONDS = 30.0


@dataclass(frozen=True)
class Reply:
    """What the receiver answers to one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    # Seconds to wait before answering.
    delay: float = 0.0
    # Answer only once this is set (or HOLD_LIMIT_SECONDS passed).
    hold: threading.Event | None = None


@dataclass
class Received:
    """One request as the receiver got it; `answered` is set once it was answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    arrived: float  # time.monotonic()
    answered: threading.Event = field(default_factory=threading.Event)

    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        received = Received(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            arrived=time.monotonic(),
        )
        reply = self.server.owner._arrived(received)
        try:
            if reply.hold is not None:
                reply.hold.wait(HOLD_LIMIT_SECONDS)
            if reply.delay:
                time.sleep(reply.delay)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            pass  # the sender gave up (its timeout) or died: nothing to answer
        finally:
            received.answered.set()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test asserts on `requests`


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: "Receiver") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection reset by a killed sender is expected in these tests


class Receiver:
    """The endpoint: `url(path)`, `script(path, *replies)`, `requests(path)`,
    `wait_for(count, path)`. Unscripted requests get a 200."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals = threading.Condition(self._lock)
        self._requests: list[Received] = []
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._holds: list[threading.Event] = []
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with these replies, in order."""
        with self._lock:
            self._scripts[path].extend(replies)
            self._holds.extend(reply.hold for reply in replies if reply.hold is not None)

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Received]:
        """The first `count` requests (to `path`), waiting up to `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        with self._arrivals:
            while True:
                found = [r for r in self._requests if path is None or r.path == path]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(found)} of {count} requests to {path or 'any path'} arrived"
                        f" in {timeout} s: {[(r.method, r.path) for r in self._requests]}"
                    )
                self._arrivals.wait(left)

    def close(self) -> None:
        with self._lock:
            holds = list(self._holds)
        for hold in holds:
            hold.set()
        self._server.shutdown()
        self._server.server_close()

    def _arrived(self, received: Received) -> Reply:
        with self._arrivals:
            self._requests.append(received)
            self._arrivals.notify_all()
            script = self._scripts.get(received.path)
            return script.popleft() if script else Reply()
