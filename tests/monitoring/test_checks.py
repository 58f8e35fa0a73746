"""`check --deploy` warns when several processes would not share state."""

from django.core.checks import run_checks


def deploy_check_ids() -> set[str]:
    return {message.id for message in run_checks(include_deployment_checks=True)}


def test_deploy_checks_warn_without_redis(settings):
    settings.REDIS_URL = ""

    assert "taskmanager.W001" in deploy_check_ids()


def test_deploy_checks_are_quiet_with_redis(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"

    assert "taskmanager.W001" not in deploy_check_ids()


def test_the_ordinary_checks_of_make_run_do_not_warn(settings):
    settings.REDIS_URL = ""

    assert "taskmanager.W001" not in {message.id for message in run_checks()}
