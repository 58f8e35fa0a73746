"""A file's id in a URL is ASCII digits: another script's digits name no file."""

import pytest

from tests.helpers import FILES_URL, assert_error, download_url, file_url, upload

pytestmark = pytest.mark.django_db


def _alias(pk: int, zero: str) -> str:
    return "".join(chr(ord(zero) + int(digit)) for digit in str(pk))


@pytest.mark.parametrize("zero", ["\u0660", "\uff10"], ids=["arabic-indic", "fullwidth"])
@pytest.mark.parametrize("suffix", ["", "download/"])
def test_a_file_id_in_other_scripts_digits_is_404_not_an_alias(member_client, zero, suffix):
    # Python's \d matches every script's digits and int() reads them, so the id
    # U+0661 (ARABIC-INDIC DIGIT ONE) answered file 1 at a second URL.
    body = upload(member_client, "png")
    assert member_client.get(f"{file_url(body)}{suffix}").status_code == 200

    response = member_client.get(f"{FILES_URL}{_alias(body['id'], zero)}/{suffix}")

    assert_error(response, 404, "not_found")


def test_deleting_a_file_by_another_scripts_digits_is_404_and_keeps_it(member_client):
    body = upload(member_client, "png")

    response = member_client.delete(f"{FILES_URL}{_alias(body['id'], chr(0x660))}/")

    assert_error(response, 404, "not_found")
    assert member_client.get(download_url(body)).status_code == 200
