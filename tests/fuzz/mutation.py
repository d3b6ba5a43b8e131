"""Chunked framing and byte mutations shared by the differential fuzzers here."""

from __future__ import annotations

import random
from typing import Sequence


def mutate(rnd: random.Random, data: bytes, inserts: Sequence[bytes],
           counts: Sequence[int]) -> bytes:
    """data with rnd.choice(counts) random edits: a byte replaced, one of
    ``inserts`` inserted, bytes deleted, a run repeated, the tail cut, or an
    extra header line (short, long or very long) inserted."""
    out = bytearray(data)
    for _ in range(rnd.choice(counts)):
        pos = rnd.randrange(len(out)) if out else 0
        op = rnd.randint(0, 5)
        if op == 0 and out:
            out[pos] = rnd.randrange(256)
        elif op == 1:
            out[pos:pos] = rnd.choice(inserts)
        elif op == 2:
            del out[pos:pos + rnd.randint(1, 10)]
        elif op == 3:
            out[pos:pos] = out[pos:pos + rnd.randint(1, 40)]
        elif op == 4:
            del out[pos:]
        else:
            name = b"X-%x" % rnd.getrandbits(40)
            out[pos:pos] = name + b": " + b"v" * rnd.choice([1, 100, 9000]) + b"\r\n"
    return bytes(out)


def chunked(rnd: random.Random, body: bytes, largest: int) -> bytes:
    """body in chunked framing: chunks of 1 to ``largest`` bytes, some with an
    extension, and a last chunk with or without a trailer."""
    out, i = b"", 0
    while i < len(body):
        piece = body[i:i + rnd.randint(1, largest)]
        i += len(piece)
        out += b"%x%s\r\n%s\r\n" % (len(piece), rnd.choice([b"", b";ext=1"]), piece)
    return out + b"0\r\n" + rnd.choice([b"", b"Trailer: x\r\n"]) + b"\r\n"
