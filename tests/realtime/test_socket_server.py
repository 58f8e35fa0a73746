"""Every daphne this project starts is realtime.server's: `manage.py runserver` (the
embedded `make run`) included, so its request bodies and WebSocket messages are
bounded as the production socket process's are (tests/e2e/test_socket_process_http.py
drives both over the network)."""

from django.core.management import get_commands, load_command_class

from realtime.server import WEBSOCKET_MAX_MESSAGE_BYTES, SocketServer, SocketServerCommandLine


def test_runserver_is_daphnes_with_the_bounded_server():
    command = load_command_class(get_commands()["runserver"], "runserver")

    assert get_commands()["runserver"] == "realtime"
    assert command.server_cls is SocketServer


def test_the_command_line_runs_the_bounded_server():
    assert SocketServerCommandLine.server_class is SocketServer


def test_a_larger_websocket_message_limit_asked_for_is_lowered():
    server = SocketServer(
        application=None,
        endpoints=["tcp:port=0"],
        websocket_max_message_size=1024 * 1024,
        websocket_max_frame_size=0,
    )

    assert server.websocket_max_message_size == WEBSOCKET_MAX_MESSAGE_BYTES
    assert server.websocket_max_frame_size == WEBSOCKET_MAX_MESSAGE_BYTES
