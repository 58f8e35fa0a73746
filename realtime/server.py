"""The WebSocket server process: daphne, with HTTP request bodies bounded.

daphne (through Twisted) reads a whole request body before the application sees
it, with no limit of its own (docs/security.md). Here a body longer than
`settings.HTTP_MAX_BODY_BYTES` is a 413 in the API's error shape, from its
`Content-Length` before any of it is read, or (chunked) as soon as it passes the
limit; the connection is then closed.

`python -m realtime.server` takes daphne's command-line arguments; `manage.py
runserver` (the embedded `make run`) uses the same server.
"""

import io
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.server import Server
from django.conf import settings


def _too_large_response() -> bytes:
    # Imported here: this module is daphne's entry point, run before Django is set up.
    from taskmanager.exceptions import PAYLOAD_TOO_LARGE_MESSAGE, error_json

    body = error_json("payload_too_large", PAYLOAD_TOO_LARGE_MESSAGE)
    return (
        b"HTTP/1.1 413 Request Entity Too Large\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Connection: close\r\n\r\n" + body
    )


class BoundedRequest(WebRequest):
    """daphne's HTTP request with a bounded body."""

    _refused = False
    _received = 0

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > settings.HTTP_MAX_BODY_BYTES:
            self._refuse()
            self.content = io.BytesIO()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._received > settings.HTTP_MAX_BODY_BYTES:
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self._refused:
            super().requestReceived(command, path, version)

    def _refuse(self) -> None:
        self._refused = True
        transport = self.channel.transport
        transport.write(_too_large_response())
        # Stops reading from the socket: what the client still sends is never buffered.
        transport.loseConnection()


# The largest WebSocket message daphne reads (its default is 1 MiB): the consumer takes
# 4,096 characters (realtime.consumers.MAX_MESSAGE_CHARS), at most 4 bytes each in UTF-8.
WEBSOCKET_MAX_MESSAGE_BYTES = 16 * 1024


class SocketServer(Server):
    """daphne's server, serving every HTTP request as a `BoundedRequest`, and reading no
    WebSocket message past WEBSOCKET_MAX_MESSAGE_BYTES (however it is started)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for option in ("websocket_max_message_size", "websocket_max_frame_size"):
            given = kwargs.get(option) or WEBSOCKET_MAX_MESSAGE_BYTES
            kwargs[option] = min(given, WEBSOCKET_MAX_MESSAGE_BYTES)
        super().__init__(*args, **kwargs)

    def protocol_connected(self, protocol: Any) -> None:
        # daphne's factory builds each request as a WebRequest; this is the first hook
        # that sees one, before its headers are parsed. The subclass adds no state.
        if type(protocol) is WebRequest:
            protocol.__class__ = BoundedRequest
            # Twisted's own parsing of form bodies read a multipart body into memory a
            # second time and answered one it could not parse with a bare 400 (no body,
            # no Content-Type). Django parses bodies itself, in the API's error shape.
            protocol._parsePOSTFormSubmission = False
        super().protocol_connected(protocol)


class SocketServerCommandLine(CommandLineInterface):
    server_class = SocketServer


if __name__ == "__main__":
    SocketServerCommandLine.entrypoint()
