"""The calendar feed's iCalendar document (RFC 5545), written with `icalendar`.

Each task is a VEVENT, not a VTODO: Google Calendar, the most used subscriber,
ignores VTODOs (docs/calendar-and-export.md has the choices made here)."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vDuration

from tasks.models import Task

PRODID = "-//Taskmanager//Calendar feed//EN"
# A deadline shown as a short event starting at the due date.
EVENT_LENGTH = timedelta(minutes=30)
# How often a subscriber is asked to fetch again (clients that honour it).
REFRESH_INTERVAL = timedelta(hours=1)

# RFC 5545's PRIORITY: 1 the highest, 9 the lowest.
_PRIORITY = {Task.Priority.HIGH: 1, Task.Priority.MEDIUM: 5, Task.Priority.LOW: 9}


def calendar_document(tasks: Iterable[Task], *, name: str, host: str) -> bytes:
    """The feed of `tasks` (each with a due date, its project and labels read),
    named `name`; `host` makes the events' UIDs unique worldwide."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    # Written as a duration explicitly: an X- property is text to the library.
    calendar.add("x-published-ttl", vDuration(REFRESH_INTERVAL))
    for task in tasks:
        if task.due_date is not None:  # the selector reads due tasks only
            calendar.add_component(_event(task, task.due_date.astimezone(UTC), host))
    return calendar.to_ical()


def _event(task: Task, due: datetime, host: str) -> Event:
    event = Event()
    # Stable for the task's life: a calendar updates the event rather than adding one.
    event.add("uid", f"task-{task.pk}@{host}")
    # Without METHOD, DTSTAMP is the last change (RFC 5545, 3.8.7.2): the same
    # document for the same tasks, so its ETag holds between fetches.
    event.add("dtstamp", task.updated_at.astimezone(UTC))
    event.add("last-modified", task.updated_at.astimezone(UTC))
    event.add("created", task.created_at.astimezone(UTC))
    event.add("sequence", task.version)
    event.add("dtstart", due)
    event.add("dtend", due + EVENT_LENGTH)
    event.add("summary", task.title)
    event.add("description", _description(task))
    # The deadline is set; the task's own progress is in the description. CANCELLED
    # would make Google Calendar drop the event of a completed task.
    event.add("status", "CONFIRMED")
    # A deadline does not make its owner busy at that time.
    event.add("transp", "TRANSPARENT")
    event.add("priority", _PRIORITY.get(Task.Priority(task.priority), 0))
    labels = [label.name for label in task.labels.all()]
    if labels:
        event.add("categories", labels)
    return event


def _description(task: Task) -> str:
    facts = (
        f"Project: {task.project.name}\n"
        f"Status: {Task.Status(task.status).label}\n"
        f"Priority: {Task.Priority(task.priority).label}"
    )
    return f"{facts}\n\n{task.description}" if task.description else facts
