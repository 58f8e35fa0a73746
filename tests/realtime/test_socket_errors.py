"""Sockets refused before any consumer runs still say why, in the API's error shape:
accepted for the error message only, then closed with a code of their own (a refused
handshake is an empty HTTP 403 or 500 that no client can read)."""

import pytest
from channels.testing import WebsocketCommunicator

from taskmanager.asgi import application
from tests.realtime.sockets import TIMEOUT, error_code, receive

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.mark.parametrize("path", ["/ws/", "/ws/tasks/extra/", "/ws/nothing-here/", "/api/v1/"])
async def test_a_socket_on_a_path_that_is_no_socket_gets_not_found_and_4404(path, caplog):
    communicator = WebsocketCommunicator(application, path)
    try:
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted

        error = await receive(communicator)
        closing = await communicator.receive_output(TIMEOUT)
    finally:
        await communicator.disconnect()

    assert error_code(error) == "not_found"
    assert error["error"] == {
        "code": "not_found",
        "message": "Not found: nothing exists at this address, or you may not see it.",
        "fields": {},
    }
    assert closing == {"type": "websocket.close", "code": 4404}
    assert "Traceback" not in caplog.text
