"""taskmanager.negotiation: DRF's choice of renderer, remembered; never another choice
than DRF's, refusals never remembered, and no more than a bounded number kept."""

from collections.abc import Iterator

import pytest
from django.http import Http404
from django.test import RequestFactory
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request

from taskmanager import negotiation
from taskmanager.negotiation import RememberedNegotiation
from taskmanager.renderers import ORJSONRenderer

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "text/html",
    "application/json; indent=4",
    "text/html;q=0.9, application/json",
    "text/html, application/json;q=0.5",
    "application/*",
    "text/*, */*;q=0.1",
]


@pytest.fixture(autouse=True)
def nothing_remembered() -> Iterator[None]:
    negotiation._chosen.clear()
    yield
    negotiation._chosen.clear()


def request(accept: str | None = None, query: str = "") -> Request:
    extra = {"HTTP_ACCEPT": accept} if accept is not None else {}
    return Request(RequestFactory().get(f"/api/v1/tasks/{query}", **extra))


def renderers() -> list:
    return [ORJSONRenderer(), BrowsableAPIRenderer()]


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", ["", "?format=json", "?format=api", "?limit=5"])
def test_the_choice_is_drfs_the_first_time_and_after(accept, query):
    def outcome(negotiator) -> tuple:
        offered = renderers()
        try:
            renderer, media_type = negotiator.select_renderer(request(accept, query), offered)
        except NotAcceptable:
            return (NotAcceptable,)
        # The view's own instance, as DRF returns it.
        assert any(renderer is one for one in offered)
        return type(renderer), media_type

    drf = outcome(DefaultContentNegotiation())

    assert outcome(RememberedNegotiation()) == drf
    assert outcome(RememberedNegotiation()) == drf


def test_the_format_asked_for_is_part_of_what_is_remembered():
    for suffix, chosen in [("api", BrowsableAPIRenderer), ("json", ORJSONRenderer)]:
        renderer, _ = RememberedNegotiation().select_renderer(request(), renderers(), suffix)
        assert type(renderer) is chosen
    for query, chosen in [("", ORJSONRenderer), ("?format=api", BrowsableAPIRenderer)]:
        renderer, _ = RememberedNegotiation().select_renderer(request(query=query), renderers())
        assert type(renderer) is chosen


def test_other_renderers_are_another_choice():
    first, _ = RememberedNegotiation().select_renderer(request("*/*"), renderers())
    second, _ = RememberedNegotiation().select_renderer(
        request("*/*"), [JSONRenderer(), BrowsableAPIRenderer()]
    )

    assert type(first) is ORJSONRenderer
    assert type(second) is JSONRenderer


def test_a_refusal_is_worked_out_every_time_and_not_remembered():
    for _ in range(2):
        with pytest.raises(NotAcceptable):
            RememberedNegotiation().select_renderer(request("application/xml"), renderers())
        with pytest.raises(Http404):
            RememberedNegotiation().select_renderer(request(query="?format=csv"), renderers())

    assert negotiation._chosen == {}


def test_no_more_than_the_bound_is_kept(monkeypatch):
    monkeypatch.setattr(negotiation, "MAX_REMEMBERED", 3)

    for n in range(6):
        renderer, media_type = RememberedNegotiation().select_renderer(
            request(f"application/json; n={n}"), renderers()
        )
        # Past the bound the answer is still DRF's, only not kept.
        assert (type(renderer), media_type) == (ORJSONRenderer, f"application/json; n={n}")

    assert len(negotiation._chosen) == 3


def test_the_api_answers_json_and_the_browsable_page_as_asked(api_client):
    assert api_client.get("/api/v1/", HTTP_ACCEPT="application/json")["Content-Type"] == (
        "application/json"
    )
    page = api_client.get("/api/v1/", HTTP_ACCEPT="text/html")
    assert page["Content-Type"].startswith("text/html")
    assert api_client.get("/api/v1/", HTTP_ACCEPT="application/xml").status_code == 406
