"""uvicorn's sans-I/O `websockets` protocol, writing an event's frame as the fan-out
framed it (realtime.frames).

Framing each event anew for each socket cost 3-4.5 µs of a frame's 17-25; writing the
shared bytes saved about an eighth of the socket process's CPU a frame
(bench/RESULTS.md, "Frames framed once"). A `websocket.send` that carries the frame is
written as it is while the socket is open for data; anything else (a frame before the
handshake or after a close, a message without a frame) takes uvicorn's own path, which
sends, refuses or raises exactly as it would. Several frames in one message (the
fan-out's batch, realtime.frames.frames_message) are one write; where uvicorn's own
path takes them, each text is sent in turn.
"""

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from realtime.frames import FRAME_KEY, FRAMES_EXTENSION, TEXTS_KEY


class FramedEventsProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:
            # Read by the application once its task runs, after this returns.
            self.scope["extensions"][FRAMES_EXTENSION] = {}

    async def send(self, message: Any) -> None:
        frame = message.get(FRAME_KEY)
        if frame is None or message["type"] != "websocket.send" or not self._open_for_data():
            await self._send_unframed(message)
            return
        if not self.writable.is_set():
            # A client that stopped reading: wait for its buffer to drain, as uvicorn does.
            await self.writable.wait()
            if self.disconnected:
                raise ClientDisconnected
            if not self._open_for_data():
                await self._send_unframed(message)
                return
        self.transport.write(frame)

    async def _send_unframed(self, message: Any) -> None:
        texts = message.get(TEXTS_KEY)
        if texts is None:
            await super().send(message)
            return
        for text in texts:
            await super().send({"type": "websocket.send", "text": text})

    def _open_for_data(self) -> bool:
        """Where uvicorn's own `send` would frame the text: after the handshake, before
        any close, with no extension that would change the frame's bytes."""
        conn = self.conn
        return (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and conn.state is State.OPEN
            and not conn.expect_continuation_frame
            and not conn.extensions
        )
