"""Skeleton columns of usernames and emails, indexed: look-alikes of a new name are
one query (accounts.usernames). Filled by 0006."""

import accounts.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_admin_role_model_permissions'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.AlterModelManagers(
            name='user',
            managers=[
                ('objects', accounts.models.AccountManager()),
            ],
        ),
        migrations.AddField(
            model_name='user',
            name='email_skeleton',
            field=models.CharField(db_default='', default='', editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='user',
            name='username_skeleton',
            field=models.CharField(db_default='', default='', editable=False, max_length=64),
        ),
        migrations.AddIndex(
            model_name='user',
            index=models.Index(fields=['username_skeleton'], name='accounts_user_username_skel'),
        ),
        migrations.AddIndex(
            model_name='user',
            index=models.Index(fields=['email_skeleton'], name='accounts_user_email_skel'),
        ),
    ]
