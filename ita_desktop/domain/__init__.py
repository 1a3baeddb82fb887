"""Plain domain types shared by every layer: no I/O, no Qt, no SQL."""
