"""The per-socket record of events already sent (realtime.consumers.SentIds)."""

from realtime.consumers import SentIds


def test_ids_sent_in_order_are_remembered_and_others_are_not():
    sent = SentIds(10)
    for event_id in (3, 5, 8):
        sent.add(event_id)

    assert [event_id in sent for event_id in (3, 5, 8)] == [True, True, True]
    assert [event_id in sent for event_id in (1, 4, 9)] == [False, False, False]


def test_an_id_arriving_after_a_higher_one_is_remembered_once():
    sent = SentIds(10)
    for event_id in (10, 12, 11, 12, 11):
        sent.add(event_id)

    assert 11 in sent
    assert len(sent) == 3


def test_past_its_size_it_forgets_the_lowest_ids_and_keeps_the_highest():
    sent = SentIds(100)
    for event_id in range(1, 10_001):
        sent.add(event_id)

    assert len(sent) == 100
    assert 9_901 in sent and 10_000 in sent
    assert 9_900 not in sent and 1 not in sent


def test_what_is_not_an_event_id_is_never_taken_for_one():
    sent = SentIds(10)
    sent.add(1)

    assert "1" not in sent
    assert None not in sent
