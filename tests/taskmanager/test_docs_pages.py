"""Swagger UI and ReDoc load nothing from another host: their pages name no other
host (drf-spectacular's ReDoc page linked Google's fonts), ReDoc is told to use the
system's fonts, Swagger UI to show no online validator badge. What the scripts do in
a browser is checked in tests/e2e/test_browser_docs.py."""

import json
import re

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

PAGES = ["/api/docs/", "/api/redoc/"]
# Anything that may name a host: an absolute or scheme-relative URL, anywhere in the
# page (attributes, inline styles and scripts).
URL = re.compile(r"""(?:[a-z][a-z0-9+.-]*:)?//[^\s"'<>)]+""", re.IGNORECASE)


@pytest.mark.parametrize("path", PAGES)
def test_the_documentation_pages_name_no_other_host(client, path):
    response = client.get(path)

    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/schema/" in page
    assert URL.findall(page) == []


def test_the_check_would_find_what_drf_spectacular_linked():
    page = (
        '<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>'
        "<style>@import url(//fonts.googleapis.com/css2);</style>"
    )

    assert URL.findall(page) == ["https://fonts.gstatic.com", "//fonts.googleapis.com/css2"]


def test_redoc_is_set_in_the_systems_fonts(client):
    page = client.get("/api/redoc/").content.decode()

    typography = settings.SPECTACULAR_SETTINGS["REDOC_UI_SETTINGS"]["theme"]["typography"]
    for fonts in (typography, typography["headings"], typography["code"]):
        assert fonts["fontFamily"].endswith(("sans-serif", "monospace"))
        assert json.dumps(fonts["fontFamily"]) in page
    assert "Montserrat" not in page


def test_swagger_ui_shows_no_online_validator_badge(client):
    page = client.get("/api/docs/").content.decode()

    assert re.search(r'"validatorUrl":\s*null', page)
