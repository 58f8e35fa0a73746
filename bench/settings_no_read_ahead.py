"""The application's settings with the read ahead off (taskmanager.readahead): the B
side of bench/read_ahead.py. Every reader then asks the cache for itself."""

from taskmanager.settings import *  # noqa: F403

READ_AHEAD = False
