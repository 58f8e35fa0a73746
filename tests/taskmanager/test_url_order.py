"""The API's patterns are tried first (taskmanager.urls): no other pattern of the
root would have matched an API path, so the order changes no answer."""

import pytest
from django.urls import Resolver404, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

import taskmanager.urls

API_PATHS = [
    "/api/v1/",
    "/api/v1/tasks/",
    "/api/v1/tasks/7/",
    "/api/v1/tasks/export.csv",
    "/api/v1/projects/3/members/",
    "/api/v1/auth/login/",
    "/api/v1/no-such-thing/",
]


class _WithoutTheApi:
    urlpatterns = [
        pattern
        for pattern in taskmanager.urls.urlpatterns
        if not (isinstance(pattern, URLResolver) and str(pattern.pattern) == "api/v1/")
    ]


def test_the_api_is_the_first_pattern():
    first = taskmanager.urls.urlpatterns[0]
    assert isinstance(first, URLResolver) and str(first.pattern) == "api/v1/"


@pytest.mark.parametrize("path", API_PATHS)
def test_no_other_pattern_matches_an_api_path(path):
    others = URLResolver(RegexPattern(r"^/"), _WithoutTheApi)
    assert len(_WithoutTheApi.urlpatterns) == len(taskmanager.urls.urlpatterns) - 1

    with pytest.raises(Resolver404):
        others.resolve(path)


def test_the_api_paths_resolve_to_the_api():
    assert get_resolver().resolve("/api/v1/tasks/7/").namespace == "v1:tasks"
