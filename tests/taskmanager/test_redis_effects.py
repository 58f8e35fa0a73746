"""taskmanager.redis_effects: the Redis scripts of a committed write in one round trip,
each call told its own outcome (on Redis only)."""

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from taskmanager import redis_effects
from tests.factories import TaskFactory
from tests.helpers import commands, task_url

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="Redis round trips")

ECHO = "return {KEYS[1], ARGV[1]}"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    with redis.Redis.from_url(settings.REDIS_URL) as made:
        yield made


class Outcome:
    """What one call was told."""

    def __init__(self) -> None:
        self.replies: list[Any] = []
        self.errors: list[Exception] = []


def call(on: redis.Redis, argument: str, outcome: Outcome, **fields: Any) -> redis_effects.Call:
    """ECHO of `argument` on `on`, told to `outcome`; `fields` replace any of that."""
    made: dict[str, Any] = {
        "client": lambda: on,
        "script": ECHO,
        "arguments": lambda: ([f"test-effects:{argument}"], [argument]),
        "done": outcome.replies.append,
        "failed": outcome.errors.append,
    }
    return redis_effects.Call(**(made | fields))


def test_outside_a_gathering_a_call_is_sent_at_once(client, redis_packets):
    outcome = Outcome()

    redis_effects.send(call(client, "now", outcome))

    assert outcome.replies == [[b"test-effects:now", b"now"]]
    assert len(redis_packets) >= 1


def test_the_calls_of_a_gathering_go_at_its_end_in_one_round_trip_in_their_order(
    client, redis_packets
):
    first, second = Outcome(), Outcome()
    client.script_load(ECHO)  # as after the first write of a process
    redis_packets.clear()

    with redis_effects.gathered():
        redis_effects.send(call(client, "one", first))
        redis_effects.send(call(client, "two", second))
        assert first.replies == second.replies == []
        assert redis_packets == []

    assert first.replies == [[b"test-effects:one", b"one"]]
    assert second.replies == [[b"test-effects:two", b"two"]]
    assert len(redis_packets) == 1
    (sent,) = map(commands, redis_packets)
    assert [command[0] for command in sent] == [b"EVALSHA", b"EVALSHA"]
    assert [command[-1] for command in sent] == [b"one", b"two"]


def test_a_gathering_inside_another_leaves_the_sending_to_the_outer(client, redis_packets):
    outcome = Outcome()
    client.script_load(ECHO)

    with redis_effects.gathered():
        with redis_effects.gathered():
            redis_effects.send(call(client, "inner", outcome))
        assert outcome.replies == []
        redis_effects.send(call(client, "outer", outcome))

    assert [reply[1] for reply in outcome.replies] == [b"inner", b"outer"]
    assert len([packet for packet in redis_packets if b"EVAL" in packet]) == 1


def test_the_calls_go_even_when_the_block_raises(client):
    outcome = Outcome()

    with pytest.raises(ZeroDivisionError), redis_effects.gathered():
        redis_effects.send(call(client, "still", outcome))
        1 / 0  # noqa: B018

    assert outcome.replies == [[b"test-effects:still", b"still"]]


def test_a_failing_script_fails_its_call_alone(client):
    failing, fine = Outcome(), Outcome()

    with redis_effects.gathered():
        redis_effects.send(call(client, "bad", failing, script="return redis.call('NOPE')"))
        redis_effects.send(call(client, "good", fine))

    assert failing.replies == []
    assert len(failing.errors) == 1
    assert isinstance(failing.errors[0], ResponseError)
    assert fine.replies == [[b"test-effects:good", b"good"]]
    assert fine.errors == []


def test_a_call_whose_arguments_or_client_fail_fails_alone(client):
    unwritable, unreachable, fine = Outcome(), Outcome(), Outcome()

    def no_client() -> redis.Redis:
        raise RuntimeError("no client")

    def no_arguments() -> tuple[list[str], list[str]]:
        raise ValueError("the message did not serialize")

    with redis_effects.gathered():
        redis_effects.send(call(client, "x", unwritable, arguments=no_arguments))
        redis_effects.send(call(client, "x", unreachable, client=no_client))
        redis_effects.send(call(client, "good", fine))

    assert [type(error) for error in unwritable.errors] == [ValueError]
    assert [type(error) for error in unreachable.errors] == [RuntimeError]
    assert unwritable.replies == unreachable.replies == []
    assert fine.replies == [[b"test-effects:good", b"good"]]


def test_a_script_redis_does_not_hold_is_sent_with_its_text(client):
    # A script never loaded (a Redis that restarted has lost them all).
    script = f"-- {uuid.uuid4().hex}\n{ECHO}"
    outcome = Outcome()

    with redis_effects.gathered():
        redis_effects.send(call(client, "new", outcome, script=script))

    assert outcome.replies == [[b"test-effects:new", b"new"]]
    assert outcome.errors == []
    assert client.script_exists(redis_effects._sha(script)) == [True]


def test_an_unreachable_redis_fails_each_call_and_raises_nothing():
    with redis.Redis(port=1, socket_connect_timeout=0.2) as down:  # nothing listens there
        first, second = Outcome(), Outcome()

        with redis_effects.gathered():
            redis_effects.send(call(down, "one", first))
            redis_effects.send(call(down, "two", second))

    assert first.replies == second.replies == []
    assert [type(error) for error in first.errors + second.errors] == [RedisConnectionError] * 2


def test_calls_to_two_databases_go_in_a_round_trip_each(client, redis_packets):
    options = client.get_connection_kwargs()
    other_database = redis.Redis(
        host=options["host"], port=options["port"], db=(options.get("db") or 0) + 1
    )
    client.script_load(ECHO)  # one round trip each, no second for a script not held
    here, there = Outcome(), Outcome()
    try:
        with redis_effects.gathered():
            redis_effects.send(call(client, "here", here))
            redis_effects.send(call(other_database, "there", there))
    finally:
        other_database.close()

    assert here.replies == [[b"test-effects:here", b"here"]]
    assert there.replies == [[b"test-effects:there", b"there"]]
    assert len([packet for packet in redis_packets if b"EVAL" in packet]) == 2


def test_a_calls_turn_is_held_from_its_arguments_until_its_reply(client):
    turn = threading.Lock()
    held: list[bool] = []

    def arguments() -> tuple[list[str], list[str]]:
        held.append(turn.locked())
        return ["test-effects:turn"], ["turn"]

    with redis_effects.gathered():
        redis_effects.send(
            call(
                client,
                "turn",
                Outcome(),
                arguments=arguments,
                done=lambda reply: held.append(turn.locked()),
                failed=pytest.fail,
                turn=turn,
            )
        )

    # Held while the arguments were made; given back before the reply was handed on.
    assert held == [True, False]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_committed_patch_bumps_and_sends_in_one_round_trip(member, member_client, redis_packets):
    if connection.vendor != "postgresql":
        pytest.skip("the gathering is opened by the PostgreSQL backend")
    task = TaskFactory(owner=member)
    assert member_client.get(task_url(task)).status_code == 200  # a warm session
    redis_packets.clear()

    response = member_client.patch(task_url(task), {"title": "Changed"}, format="json")

    assert response.status_code == 200, response.content
    after_commit = [commands(packet) for packet in redis_packets if b"EVALSHA" in packet]
    assert len(after_commit) == 1, redis_packets
    (sent,) = after_commit
    # The counters first (the bump's keys are version counters), then the event.
    assert [command[0] for command in sent] == [b"EVALSHA", b"EVALSHA"]
    assert b"tasks:version:" in sent[0][3]
    assert b"tasks:version:" not in sent[1][3]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_hook_rolled_back_with_its_savepoint_sends_nothing(client, redis_packets):
    if connection.vendor != "postgresql":
        pytest.skip("the gathering is opened by the PostgreSQL backend")
    client.script_load(ECHO)
    redis_packets.clear()
    kept, dropped = Outcome(), Outcome()

    with transaction.atomic():
        transaction.on_commit(lambda: redis_effects.send(call(client, "kept", kept)))
        try:
            with transaction.atomic():
                transaction.on_commit(lambda: redis_effects.send(call(client, "dropped", dropped)))
                raise RuntimeError
        except RuntimeError:
            pass

    assert [reply[1] for reply in kept.replies] == [b"kept"]
    assert dropped.replies == dropped.errors == []
    assert len([packet for packet in redis_packets if b"EVAL" in packet]) == 1
