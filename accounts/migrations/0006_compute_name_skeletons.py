"""Fill the skeleton columns of the users from before them.

Look-alike pairs already stored stay as they are (the columns are not unique): this
only lets new names be compared with theirs. It uses the running code's skeleton
(accounts.usernames, the pinned ICU), the one new names are compared with.
"""

from django.db import migrations

from accounts.usernames import skeleton_columns

BATCH = 1000


def compute_skeletons(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    last_pk = 0
    while True:
        users = list(User.objects.filter(pk__gt=last_pk).order_by("pk")[:BATCH])
        if not users:
            return
        for user in users:
            for field, value in skeleton_columns(username=user.username, email=user.email).items():
                setattr(user, field, value)
        User.objects.bulk_update(users, ["username_skeleton", "email_skeleton"])
        last_pk = users[-1].pk


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_name_skeletons")]

    operations = [migrations.RunPython(compute_skeletons, migrations.RunPython.noop)]
