"""A person's record key for the cell-key method of exports/disclosure.py, and the cell: a
set of persons as their count and the sum of their keys. Pure; here (not in exports/) so that
db/ can store keys and read cells without importing the engine."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

KEY_BITS = 32
KEY_MODULUS = 1 << KEY_BITS


def new_record_key() -> int:
    """A screening's record key, uniform in [0, 2^32), from the operating system's CSPRNG."""
    return secrets.randbits(KEY_BITS)


@dataclass(frozen=True, slots=True)
class Cell:
    """The persons of a cell: how many, and the sum of their record keys mod 2^32."""

    n: int
    key: int = 0

    def __add__(self, other: Cell | int) -> Cell:
        if isinstance(other, int):
            if other != 0:
                raise TypeError("only cells (or 0) add to a cell")
            return self
        return Cell(self.n + other.n, (self.key + other.key) % KEY_MODULUS)

    __radd__ = __add__

    def __sub__(self, other: Cell | int) -> Cell:
        """The cell of the persons in self and not in other (other must be a subset; 0 is
        the empty one)."""
        if isinstance(other, int):
            if other != 0:
                raise TypeError("only cells (or 0) are taken from a cell")
            return self
        return Cell(self.n - other.n, (self.key - other.key) % KEY_MODULUS)


EMPTY = Cell(0, 0)
