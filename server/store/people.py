"""The people of a server: who they are (`Person`), their tokens (only hashes are kept), and who
may see what (`visible_to`).

A person's token is made once (`new_token`, 256 random bits) and shown once; the store keeps its
SHA-256 (`token_hash`), so a copy of the database lets nobody in. Two people exist without a
row in the `people` table: LOCAL, the one person of a server on the loopback interface with
nobody configured (the laptop user, who owns everything made there), and ADMIN, the holder of
the server's `--token`.
"""
import hashlib
import re
import secrets
from dataclasses import dataclass

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Person:
    name: str
    admin: bool = False


LOCAL = Person("local", admin=True)     # nobody configured, loopback only: everything is theirs
ADMIN = Person("admin", admin=True)     # the server's --token
RESERVED = (LOCAL.name, ADMIN.name)


def visible_to(person: Person, owner: str, public: bool = False) -> bool:
    """Whether `person` may read a thing `owner` made: their own, anything for an admin, and a
    public thing for anyone (by its id; lists show only one's own)."""
    return person.admin or person.name == owner or public


def owner_of(recorded: str | None) -> str:
    """The owner of a record that names one, else (a row from before people) the laptop's own person."""
    return recorded or LOCAL.name


def may_change(person: Person, owner: str) -> bool:
    """Whether `person` may delete or share a thing `owner` made."""
    return person.admin or person.name == owner


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    """The name, or ValueError saying what a name may be."""
    if not NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a name: 1 to 64 letters, digits, '.', '_' or '-', not starting with "
                         "one of the last three")
    if name in RESERVED:
        raise ValueError(f"{name!r} is reserved ({LOCAL.name}: the laptop's own person; {ADMIN.name}: the "
                         "holder of --token): pick another name")
    return name
