"""`manage.py runserver` (the embedded `make run`): daphne's, with the bounded server
of `realtime.server`."""

from daphne.management.commands.runserver import Command as DaphneRunserverCommand

from realtime.server import SocketServer


class Command(DaphneRunserverCommand):
    server_cls = SocketServer
