"""`@username` in a comment's body: which project members it names.

A mention is `@` followed by the characters a username is made of (letters, digits
and `_ . @ + -`, as Django's username validator allows), where the `@` does not
follow one of those characters itself (so `mia@example.com` mentions no one). The
name is compared with the usernames of the project's members without regard to case
(both NFKC-normalized and case-folded, as usernames are normalized when an account is
created); when the whole run names no member, the run without the punctuation it ends
with does (`@mia.` at the end of a sentence is `mia`). A name of no member is left as
text.
"""

import re
import unicodedata
from collections.abc import Iterable

# Usernames' characters (accounts: `^[\w.@+-]+\Z`), \w being Unicode's.
_MENTION = re.compile(r"(?<![\w.@+-])@([\w.@+-]+)")
# What a sentence may put after a name, which a username may also end with.
_TRAILING = ".@+-"


def folded(name: str) -> str:
    """A name as mentions compare it: NFKC, then case-folded."""
    return unicodedata.normalize("NFKC", name).casefold()


def mentioned_names(body: str) -> list[tuple[str, str]]:
    """Each `@name` run of the body: (the run, the run without its trailing
    punctuation), folded; in order, without repeats."""
    seen: dict[tuple[str, str], None] = {}
    for match in _MENTION.finditer(body):
        run = folded(match.group(1))
        seen.setdefault((run, run.rstrip(_TRAILING)), None)
    return list(seen)


def members_named(names: list[tuple[str, str]], members: Iterable[tuple[int, str]]) -> set[int]:
    """The ids of the `members` (id, username) that `names` (`mentioned_names`) name."""
    by_name: dict[str, set[int]] = {}
    for user_id, username in members:
        by_name.setdefault(folded(username), set()).add(user_id)
    found: set[int] = set()
    for run, trimmed in names:
        found |= by_name.get(run) or by_name.get(trimmed) or set()
    return found
