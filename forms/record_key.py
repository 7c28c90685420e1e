"""A person's record key for the cell-key method of exports/disclosure.py, and the cell: a
set of persons as their count and the sum of their keys. Pure; here (not in exports/) so that
db/ can store keys and read cells without importing the engine."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_BITS = 32
KEY_MODULUS = 1 << KEY_BITS


def new_record_key() -> int:
    """A screening's record key, uniform in [0, 2^32), from the operating system's CSPRNG."""
    return secrets.randbits(KEY_BITS)


def keyed_record_key(secret: bytes, identifier: str) -> int:
    """A record key for a record that has no column for one (a support-centre case): uniform
    in [0, 2^32) and fixed for the record, from a keyed hash of its identifier with a server
    secret, so that nobody without the secret can compute it."""
    digest = hmac.new(secret, identifier.encode("ascii"), hashlib.sha256).digest()
    return int.from_bytes(digest[: KEY_BITS // 8], "big")


class Cell(tuple):
    """The persons of a cell: how many (`n`), and the sum of their record keys mod 2^32
    (`key`). Immutable; a tuple underneath, because a published table makes thousands."""

    __slots__ = ()

    def __new__(cls, n: int, key: int = 0) -> Cell:
        return tuple.__new__(cls, (n, key))

    def __getnewargs__(self) -> tuple[int, int]:
        return tuple(self)

    @property
    def n(self) -> int:
        return self[0]

    @property
    def key(self) -> int:
        return self[1]

    def __repr__(self) -> str:
        return f"Cell(n={self[0]}, key={self[1]})"

    def __add__(self, other: Cell | int) -> Cell:  # type: ignore[override]
        if isinstance(other, int):
            if other != 0:
                raise TypeError("only cells (or 0) add to a cell")
            return self
        if not isinstance(other, Cell):
            return NotImplemented
        return tuple.__new__(Cell, (self[0] + other[0], (self[1] + other[1]) % KEY_MODULUS))

    __radd__ = __add__

    def __sub__(self, other: Cell | int) -> Cell:
        """The cell of the persons in self and not in other (other must be a subset; 0 is
        the empty one)."""
        if isinstance(other, int):
            if other != 0:
                raise TypeError("only cells (or 0) are taken from a cell")
            return self
        return tuple.__new__(Cell, (self[0] - other[0], (self[1] - other[1]) % KEY_MODULUS))

    def __mul__(self, other):  # a tuple would repeat itself: a cell has no such meaning
        return NotImplemented

    __rmul__ = __mul__


EMPTY = Cell(0, 0)
