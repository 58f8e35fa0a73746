from rest_framework import serializers


class CalendarFeedOutputSerializer(serializers.Serializer):
    """Your calendar feed's address: subscribe to it from a calendar application.
    Anyone who has it reads your tasks' due dates; ask for a new one to cut it off."""

    url = serializers.URLField(
        help_text="`https://<host>/calendar/<secret>.ics`, an iCalendar document of "
        "the tasks you see that have a due date."
    )
