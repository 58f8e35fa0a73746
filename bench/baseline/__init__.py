"""The ceiling `make bench` compares the application with: a bare DRF list view.

A ModelSerializer over 20 rows of `tasks_task` read with one query, no
authentication, no throttles, no cache, and only the middleware `startproject`
writes. It runs under the same gunicorn command (its sync workers) against the same
PostgreSQL database as the application, so the gap between the two is what the
application's own layers cost.
"""
