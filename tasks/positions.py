"""Keys of the manual order: opaque strings that sort the tasks of a project.

A key is one to MAX_LENGTH characters of ALPHABET, compared byte-wise (the column is
`COLLATE "C"`; the alphabet is ASCII, so Python's `<` on str agrees). Read a key as a
base-36 fraction `0.d1d2d3...`: a new key between two others is a fraction between
theirs, so a move writes one row and only a long run of inserts at one spot makes keys
grow (past REBALANCE_LENGTH, spread() renumbers the project).

Two kinds of keys exist:

- exactly WIDTH long, from first(), after(), before() and spread(): a base-36 integer,
  zero-padded, STEP apart, so appending never lengthens keys;
- anything else comes from between() (after() and before() too, at the range's ends)
  and never ends in "0".

Why no trailing zero: "ab" and "ab0" are the same fraction, and no string sorts
between them; between "ab" and "ab00" only "ab0" does, itself ending in 0. A key that
is another key padded with zeros would leave no room between the two, so between()
returns a fraction strictly between its bounds with a nonzero last digit, and the
WIDTH-long keys cannot pad an existing shorter key: after() is greater than the padded
greatest key, before() smaller than every key, and spread() replaces them all.
"""

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
BASE = len(ALPHABET)
WIDTH = 10  # the integer part's width
STEP = BASE**4  # the gap left between appended tasks
MAX_LENGTH = 255  # the column's
REBALANCE_LENGTH = 40  # a longer key asks for a rebalance
# first(): low in the range, as tasks are appended far more often than put first.
_START = BASE ** (WIDTH - 1)

_DIGITS = {character: value for value, character in enumerate(ALPHABET)}


class NoRoomError(ValueError):
    """No key fits between the two given (past MAX_LENGTH, or one is the other padded
    with zeros): rebalance, then ask again."""


def valid(key: str) -> bool:
    """Non-empty, at most MAX_LENGTH characters, all of ALPHABET."""
    return 0 < len(key) <= MAX_LENGTH and all(character in _DIGITS for character in key)


def needs_rebalance(key: str) -> bool:
    return len(key) > REBALANCE_LENGTH


def first() -> str:
    """The key of a project's first task, "1000000000": a 36th of the way up the
    range, room for 36**5 prepends by before() and 35 * 36**5 appends by after()."""
    return encode(_START)


def after(last: str | None) -> str:
    """A key greater than `last` (the project's greatest key; None or "" when it has
    none): the integer part plus STEP, WIDTH long; past the range, a longer key
    (NoRoomError past MAX_LENGTH)."""
    if not last:
        return first()
    _check(last)
    number = integer_part(last) + STEP
    if number >= BASE**WIDTH:
        return between(last, None)
    return encode(number)


def before(first_key: str) -> str:
    """A key smaller than `first_key` (the project's smallest key), never "": the
    integer part minus STEP, WIDTH long, while that stays positive; else a longer key.
    NoRoomError when `first_key` is all zeros (nothing valid sorts before it)."""
    _check(first_key)
    number = integer_part(first_key) - STEP
    if number >= 1:
        # Smaller at a digit within first_key's own characters (its padding is zeros,
        # which a smaller number cannot undercut), so smaller byte-wise too.
        return encode(number)
    return between("", first_key)


def between(low: str | None, high: str | None) -> str:
    """A key strictly between `low` and `high`, never ending in "0". `low` None or ""
    is before every key, `high` None after every key.

    ValueError when low >= high or a bound is not a key; NoRoomError (a ValueError)
    when nothing without a trailing zero fits (high is low followed by zeros) or the
    key would pass MAX_LENGTH (a rebalance is long overdue by then)."""
    low = low or ""
    if low:
        _check(low)
    if high is not None:
        _check(high)
        if low >= high:
            raise ValueError(f"{low!r} does not sort before {high!r}")
    # As fractions trailing zeros say nothing; stripped, byte order is fraction order.
    lower = low.rstrip("0")
    upper = None if high is None else high.rstrip("0")
    if upper is not None and lower >= upper:
        raise NoRoomError(f"no key fits between {low!r} and {high!r}")

    digits: list[str] = []
    # Ends by the first digit past lower's end at the latest; the bound makes the
    # key fit the column.
    for position in range(MAX_LENGTH):
        low_digit = _digit(lower, position)
        # Unbounded (BASE): the key already sorts below `high` by an earlier digit.
        high_digit = BASE if upper is None else _digit(upper, position)
        if high_digit - low_digit >= 2:
            # The midpoint digit: above low's (so not 0), below high's.
            digits.append(ALPHABET[(low_digit + high_digit) // 2])
            return "".join(digits)
        if high_digit - low_digit == 1:
            if upper is not None and len(upper) > position + 1:
                # high goes on with a nonzero digit, so its own prefix sorts below it.
                digits.append(ALPHABET[high_digit])
                return "".join(digits)
            # Keep low's digit: from here on anything stays below high.
            upper = None
        digits.append(ALPHABET[low_digit])
    raise NoRoomError(f"no key of at most {MAX_LENGTH} characters fits after {low!r}")


def spread(count: int) -> list[str]:
    """`count` increasing keys, each WIDTH long, STEP apart from first() (a rebalance);
    evenly over the whole range when that would not fit."""
    if count < 0:
        raise ValueError("count must not be negative")
    space = BASE**WIDTH
    if _START + STEP * (count - 1) < space:
        return [encode(_START + STEP * index) for index in range(count)]
    gap = space // (count + 1)
    if gap < 1:
        raise ValueError(f"{count} keys do not fit in {WIDTH} characters")
    return [encode(gap * (index + 1)) for index in range(count)]


def _check(key: str) -> None:
    if not valid(key):
        raise ValueError(f"not a position: {key!r}")


def _digit(key: str, position: int) -> int:
    # A key reads as a fraction: the digits past its end are zeros.
    return _DIGITS[key[position]] if position < len(key) else 0


def integer_part(key: str) -> int:
    number = 0
    for position in range(WIDTH):
        number = number * BASE + _digit(key, position)
    return number


def encode(number: int) -> str:
    characters = []
    for _ in range(WIDTH):
        number, digit = divmod(number, BASE)
        characters.append(ALPHABET[digit])
    if number:
        raise ValueError(f"{number} does not fit in {WIDTH} characters")
    return "".join(reversed(characters))
