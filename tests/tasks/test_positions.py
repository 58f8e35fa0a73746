"""The keys of the manual order (tasks.positions): strictly between their bounds,
valid, short in the common case, and sorted the same by Python and by bytes (the
PostgreSQL column is `COLLATE "C"`)."""

import itertools
import math
import random

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tasks import positions
from tasks.positions import (
    ALPHABET,
    MAX_LENGTH,
    REBALANCE_LENGTH,
    STEP,
    WIDTH,
    NoRoomError,
    after,
    before,
    between,
    first,
    needs_rebalance,
    spread,
    valid,
)

EXAMPLES = settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Each example is 500 inserts: fewer examples, as many keys drawn as the others.
SEQUENCES = settings(EXAMPLES, max_examples=50)

keys = st.text(alphabet=ALPHABET, min_size=1, max_size=MAX_LENGTH)
# One short of the column: a key one character longer always fits above them.
roomy_keys = st.text(alphabet=ALPHABET, min_size=1, max_size=MAX_LENGTH - 1)
short_keys = st.text(alphabet=ALPHABET, min_size=1, max_size=REBALANCE_LENGTH + 5)


@st.composite
def ordered_pairs(draw: st.DrawFn) -> tuple[str, str]:
    # Often sharing a prefix, as neighbours in a long list do.
    prefix = draw(st.text(alphabet=ALPHABET, max_size=20))
    one = prefix + draw(st.text(alphabet=ALPHABET, max_size=20))
    other = prefix + draw(st.text(alphabet=ALPHABET, max_size=20))
    if not one or not other or one == other:
        one, other = draw(st.one_of(short_keys, roomy_keys)), draw(roomy_keys)
    assume(one != other)
    low, high = sorted((one, other))
    return low, high


def pads(low: str, high: str) -> bool:
    """high is low followed by zeros: the only strings between end in 0."""
    return high.startswith(low) and set(high[len(low) :]) <= {"0"}


def place(low: str | None, high: str | None) -> str:
    """As a move or a create picks a key from its neighbours."""
    if low is None and high is None:
        return first()
    if high is None:
        return after(low)
    if low is None:
        return before(high)
    return between(low, high)


def assert_key(key: str) -> None:
    assert valid(key), key
    # Only the WIDTH-long integer keys may end in 0 (module docstring).
    assert len(key) == WIDTH or not key.endswith("0"), key


def assert_strictly_sorted(sequence: list[str]) -> None:
    assert all(a < b for a, b in itertools.pairwise(sequence))
    assert all(a.encode() < b.encode() for a, b in itertools.pairwise(sequence))


@EXAMPLES
@given(ordered_pairs())
@example(("a", "b"))
@example(("a", "a1"))
@example(("a", "a01"))
@example(("a0", "a1"))
@example(("az", "b"))
@example(("azzz", "b"))
@example(("a", "b0001"))
@example(("0000010000", "00000100001"))
@example(("a", "a0"))
@example(("a", "a000"))
@example(("0", "00"))
def test_between_is_strictly_between_and_valid(pair: tuple[str, str]) -> None:
    low, high = pair
    if pads(low, high):
        with pytest.raises(NoRoomError, match="no key fits"):
            between(low, high)
        return
    key = between(low, high)
    assert low < key < high
    assert valid(key)
    assert not key.endswith("0")
    # Never longer than needed: one past the longer bound at most.
    assert len(key) <= max(len(low), len(high)) + 1


@EXAMPLES
@given(roomy_keys)
@example("z" * (MAX_LENGTH - 1))
def test_between_with_an_open_end_is_strictly_beyond_the_bound(key: str) -> None:
    above = between(key, None)
    assert key < above
    assert valid(above)
    assert not above.endswith("0")
    if key.strip("0"):
        below = between(None, key)
        assert "" < below < key
        assert valid(below)
        assert not below.endswith("0")
        assert between("", key) == below
    else:
        with pytest.raises(NoRoomError):
            between(None, key)


def test_between_two_open_ends_is_one_character() -> None:
    assert between(None, None) == "i"
    assert between("", None) == "i"


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        ("a", "c", "b"),  # the midpoint of the first differing digit
        ("a", "b", "ai"),  # no digit between: one character more
        ("a5", "b7", "b"),  # high's prefix already sorts below high
        ("az", "b", "azi"),
        ("0000010000", "0000020000", "000001i"),
        ("", "0000000001", "0000000000i"),
    ],
)
def test_between_prefers_short_keys(low: str, high: str, expected: str) -> None:
    assert between(low, high) == expected


@pytest.mark.parametrize(
    ("low", "high"),
    [("a", "a"), ("b", "a"), ("0000020000", "0000010000"), ("ab", "a"), ("", "")],
)
def test_between_raises_unless_low_sorts_before_high(low: str, high: str) -> None:
    with pytest.raises(ValueError) as raised:
        between(low, high)
    assert not isinstance(raised.value, NoRoomError)


@pytest.mark.parametrize(
    ("low", "high"),
    [("A", None), ("a", "B"), ("a-", None), (" a", "b"), ("a", ""), ("1_0", None), ("é", None)],
)
def test_between_refuses_what_is_not_a_key(low: str, high: str | None) -> None:
    with pytest.raises(ValueError, match="not a position"):
        between(low, high)


def test_between_refuses_a_key_past_the_column() -> None:
    # All z's: the only key above is one character longer, past MAX_LENGTH.
    with pytest.raises(NoRoomError, match="at most 255"):
        between("z" * MAX_LENGTH, None)
    with pytest.raises(NoRoomError, match="at most 255"):
        after("z" * MAX_LENGTH)
    assert len(between("z" * (MAX_LENGTH - 1), None)) == MAX_LENGTH


def test_the_first_key_is_width_long_with_room_below() -> None:
    assert first() == "1000000000"
    assert len(first()) == WIDTH
    assert after(None) == after("") == first()


@EXAMPLES
@given(keys)
@example("zzzzzzzzzz")
@example("zzzzzz0000")
@example("zzzzzyzzzzz")
@example("0")
def test_after_is_strictly_greater(key: str) -> None:
    key_after = after(key)
    assert key < key_after
    assert_key(key_after)
    integer_part = int(key[:WIDTH].ljust(WIDTH, "0"), 36)
    if integer_part + STEP < 36**WIDTH:
        assert len(key_after) == WIDTH
        assert int(key_after, 36) == integer_part + STEP


def test_after_past_the_range_falls_back_to_a_longer_key() -> None:
    assert after("zzzzzzzzzz") == "zzzzzzzzzzi"
    assert after("zzzzzz0000") == "zzzzzzi"  # zzzzzz0000 + STEP overflows
    assert after("zzzzzy0000") == "zzzzzz0000"  # the last one that fits


@EXAMPLES
@given(keys)
@example("1")
@example("0000010000")
@example("000001")
@example("0000000001")
@example("00000000001")
@example("0000000000z")
def test_before_is_strictly_smaller_and_not_empty(key: str) -> None:
    if not key.strip("0"):
        with pytest.raises(NoRoomError):
            before(key)
        return
    key_before = before(key)
    assert "" < key_before < key
    assert_key(key_before)
    integer_part = int(key[:WIDTH].ljust(WIDTH, "0"), 36)
    if integer_part - STEP >= 1:
        assert len(key_before) == WIDTH
        assert int(key_before, 36) == integer_part - STEP


def test_before_the_bottom_of_the_range_falls_back_to_a_longer_key() -> None:
    assert before("0000020000") == "0000010000"
    assert before("0000010000") == "000000i"  # minus STEP would be 0
    assert before("000001") == "000000i"  # the padding does not make it greater


@SEQUENCES
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=500, max_size=500))
def test_random_inserts_keep_the_list_strictly_sorted(choices: list[int]) -> None:
    ordered: list[str] = []
    for choice in choices:
        index = choice % (len(ordered) + 1)
        low = ordered[index - 1] if index > 0 else None
        high = ordered[index] if index < len(ordered) else None
        key = place(low, high)
        assert_key(key)
        ordered.insert(index, key)
    assert_strictly_sorted(ordered)
    assert len(set(ordered)) == len(ordered)


@SEQUENCES
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=500, max_size=500))
def test_random_inserts_with_open_ends_keep_the_list_strictly_sorted(choices: list[int]) -> None:
    # between() alone, the list's ends included (None for a missing neighbour).
    ordered: list[str] = []
    for choice in choices:
        index = choice % (len(ordered) + 1)
        low = ordered[index - 1] if index > 0 else None
        high = ordered[index] if index < len(ordered) else None
        key = between(low, high)
        assert_key(key)
        ordered.insert(index, key)
    assert_strictly_sorted(ordered)
    assert len(set(ordered)) == len(ordered)


def length_bound(inserts: int) -> int:
    """Inserting again and again at one spot: past the WIDTH integer digits, one more
    character leaves room for at least 5 keys at that spot (digits 18, 9, 4, 2, 1 down
    towards a lower neighbour; 18, 27, 31, 33, 34, 35 up towards an upper one), but the
    first character past the common prefix may start from a small gap: one more."""
    return WIDTH + 1 + math.ceil(inserts / 5)


@pytest.mark.parametrize("start", ["1000000000", "0000010000", "zzzzzy0000", "5a5a5a5a5a"])
def test_inserts_right_after_the_first_key_grow_slowly(start: str) -> None:
    ordered = [start, after(start)]
    for inserts in range(1, 201):
        ordered.insert(1, between(ordered[0], ordered[1]))
        assert len(ordered[1]) <= length_bound(inserts)
    assert_strictly_sorted(ordered)
    assert all(valid(key) for key in ordered)


def test_inserts_right_after_the_first_key_grow_one_character_per_five() -> None:
    # 1000000000 < 100000i < 1000010000, then i, 9, 4, 2, 1 per further character.
    ordered = [first(), after(first())]
    for inserts in range(1, 201):
        ordered.insert(1, between(ordered[0], ordered[1]))
        assert len(ordered[1]) == 7 + (inserts - 1) // 5
    assert needs_rebalance(ordered[1])


@pytest.mark.parametrize("start", ["1000000000", "0000010000", "zzzzzy0000", "5a5a5a5a5a"])
def test_inserts_right_before_the_last_key_grow_slowly(start: str) -> None:
    ordered = [start, after(start)]
    for inserts in range(1, 201):
        ordered.insert(len(ordered) - 1, between(ordered[-2], ordered[-1]))
        assert len(ordered[-2]) <= length_bound(inserts)
    assert_strictly_sorted(ordered)


def test_repeated_moves_to_the_top_grow_slowly() -> None:
    ordered = [first()]
    for inserts in range(1, 201):
        ordered.insert(0, before(ordered[0]))
        assert len(ordered[0]) <= length_bound(inserts)
    assert_strictly_sorted(ordered)
    # 36**5 prepends before the integer part runs out: these all stay WIDTH long.
    assert {len(key) for key in ordered} == {WIDTH}


def test_ten_thousand_appends_stay_width_long() -> None:
    ordered: list[str] = []
    last: str | None = None
    for _ in range(10_000):
        last = after(last)
        ordered.append(last)
    assert {len(key) for key in ordered} == {WIDTH}
    assert_strictly_sorted(ordered)


@pytest.mark.parametrize("count", [0, 1, 2, 10_000])
def test_spread_keys_are_increasing_and_width_long(count: int) -> None:
    spread_keys = spread(count)
    assert len(spread_keys) == count
    assert all(len(key) == WIDTH for key in spread_keys)
    assert_strictly_sorted(spread_keys)
    if count:
        assert spread_keys[0] == first()
    gaps = {int(b, 36) - int(a, 36) for a, b in itertools.pairwise(spread_keys)}
    assert gaps <= {STEP}


def test_spread_uses_a_smaller_gap_when_step_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    # A list of 36**6 keys is too big to build: a bigger STEP overflows sooner instead.
    big_step = 36 ** (WIDTH - 1)
    monkeypatch.setattr(positions, "STEP", big_step)
    fitting = spread(35)  # 1000000000 up to z000000000
    assert fitting[0] == first()
    assert fitting[-1] == "z000000000"
    overflowing = spread(36)
    assert len(overflowing) == 36
    assert all(len(key) == WIDTH for key in overflowing)
    assert_strictly_sorted(overflowing)
    gap = 36**WIDTH // 37
    assert [int(key, 36) for key in overflowing] == [gap * (n + 1) for n in range(36)]


def test_spread_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError):
        spread(-1)


def test_spread_keys_leave_room_between_neighbours() -> None:
    spread_keys = spread(100)
    for low, high in itertools.pairwise(spread_keys):
        assert len(between(low, high)) <= WIDTH


def test_needs_rebalance_past_the_rebalance_length() -> None:
    assert not needs_rebalance("1" * REBALANCE_LENGTH)
    assert needs_rebalance("1" * (REBALANCE_LENGTH + 1))
    assert not needs_rebalance(first())


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("0", True),
        ("z" * MAX_LENGTH, True),
        ("", False),
        ("z" * (MAX_LENGTH + 1), False),
        ("A", False),
        ("a-b", False),
        ("a\n", False),
        ("\u0661", False),  # a digit, ARABIC-INDIC ONE, but not an ASCII one
        ("ß", False),
    ],
)
def test_valid_keys(key: str, expected: bool) -> None:
    assert valid(key) is expected


@EXAMPLES
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=300))
def test_python_and_byte_order_agree_on_generated_keys(choices: list[int]) -> None:
    generated: list[str] = []
    for choice in choices:
        index = choice % (len(generated) + 1)
        low = generated[index - 1] if index > 0 else None
        high = generated[index] if index < len(generated) else None
        generated.insert(index, place(low, high))
    shuffled = random.Random(len(choices)).sample(generated, len(generated))
    assert sorted(shuffled) == sorted(shuffled, key=str.encode) == generated


@EXAMPLES
@given(st.lists(keys, min_size=2, max_size=50))
def test_python_and_byte_order_agree_on_any_keys(any_keys: list[str]) -> None:
    assert sorted(any_keys) == sorted(any_keys, key=str.encode)
