"""An event's WebSocket frame, framed once for every socket it goes to.

A server's frames are not masked (RFC 6455, section 5.1), so one event's text frame is
the same bytes on every socket: the fan-out frames it once and hands those bytes to
each socket beside the text (`send_message`). The production socket server writes
them as they are (realtime.socket_protocol); any other ASGI server ignores the key it
does not know and frames `text` itself. Several events' frames for one socket go to
that server in one message and leave in one write (`frames_message`).
"""

from typing import Any

from websockets.frames import Frame, Opcode

# The key of a `websocket.send` message holding the frame of its `text`.
FRAME_KEY = "taskmanager.frame"
# The scope extension of a server that writes such frames as they are and takes
# several in one message: FRAME_KEY then holds their bytes one after the other,
# TEXTS_KEY their texts (`frames_message`).
FRAMES_EXTENSION = "taskmanager.frames"
TEXTS_KEY = "taskmanager.texts"


def text_frame(text: str) -> bytes:
    """One unfragmented, unmasked text frame of `text`, without extensions (the socket
    server negotiates none: permessage-deflate is off)."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=())


def send_message(text: str, frame: bytes | None) -> dict[str, Any]:
    """The ASGI `websocket.send` message of an event, with its frame when there is one."""
    if frame is None:
        return {"type": "websocket.send", "text": text}
    return {"type": "websocket.send", "text": text, FRAME_KEY: frame}


def frames_message(texts: list[str], frames: list[bytes]) -> dict[str, Any]:
    """Several events in one `websocket.send` message, written in one go. It has no
    `text`, so it goes only to a server whose scope holds FRAMES_EXTENSION."""
    return {"type": "websocket.send", TEXTS_KEY: texts, FRAME_KEY: b"".join(frames)}
