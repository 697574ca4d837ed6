#!/usr/bin/env python3
"""knock_codes_ref.py — a second, independent implementation of logknock's
time-based ("totp") and encrypted knocks, written from their description
(src/common/knockcode.h, doc/knock-codes.md), to produce the known answers that
src/common/knockcode.c must reproduce (t/unit-knockcode.c reads them).

    python3 t/knock_codes_ref.py > t/fixtures/knock-codes.kat

Python 3 standard library only: hashlib.blake2b(key=K, digest_size=N) is the
keyed BLAKE2b that libsodium calls crypto_generichash.

The construction
----------------
PRF(label, door, step, bind, extra, n) = BLAKE2b-n keyed with the 32-byte key
over
    label (ASCII) | 0x00 | len(door) (1 byte) | door | step (8 bytes,
    big-endian, two's complement) | version (1 byte: 0, 4 or 6) |
    address (0, 4 or 16 bytes) | extra

totp:   h = PRF("logknock totp v1", ..., extra = "", n = 64) — always 64
        bytes, whatever the number of knocks. Knock i (0-based) is
        lo + (BE32(h[4i:4i+4]) mod span), span = hi - lo + 1; if that equals
        the port of knock i-1, it is moved one up (wrapping within the
        range), so that no two knocks in a row share a port.
encrypted:
        plaintext p = port (BE16) | (0x8000 if udp else 0) | seconds (BE16)
        tag = PRF("logknock mac v1", ..., extra = p, n = 6)
        ks  = PRF("logknock enc v1", ..., extra = tag, n = 4)
        the 10 knock bytes = (p xor ks) | tag; knock i goes to base + 256*i +
        byte i.

The file format (t/fixtures/knock-codes.kat)
--------------------------------------------
Lines starting with '#' and blank lines are comments. Every other line is one
vector, fields separated by single spaces:

    totp KEY DOOR STEP BIND LO-HI KNOCKS -> P1,P2,...
    enc  KEY DOOR STEP BIND PROTO/PORT SECONDS -> B0,B1,...,B9

KEY     64 hex digits (32 bytes)
DOOR    the door's name (no blanks)
STEP    the time step, a signed decimal integer
BIND    4:IPV4 or 6:IPV6 (the source the code is bound to), or none
LO-HI   totp's port range, decimal
KNOCKS  how many ports (1..16)
PROTO   tcp or udp; PORT 1..65535; SECONDS 0..32767
after -> the expected ports (totp) or the 10 knock bytes (enc), in decimal,
comma-separated.
"""

import hashlib
import ipaddress
import sys

KEY_BYTES = 32
MAC_BYTES = 6
MAX_SECONDS = 32767
MAX_KNOCKS = 16

FIXED_KEY = bytes(range(32))            # 000102...1f
OTHER_KEY = hashlib.sha256(b"logknock other test key").digest()


def _bind_bytes(bind):
    """(version byte, address bytes) for a bind written as in the file."""
    if bind == "none":
        return 0, b""
    version, addr = bind.split(":", 1)
    packed = ipaddress.ip_address(addr).packed
    if version == "4":
        assert len(packed) == 4
        return 4, packed
    if version == "6":
        assert len(packed) == 16
        return 6, packed
    raise ValueError("bad bind " + bind)


def prf(key, label, door, step, bind, extra, n):
    assert len(key) == KEY_BYTES
    d = door.encode()
    assert len(d) <= 255
    version, addr = _bind_bytes(bind)
    msg = bytearray(label.encode("ascii"))
    msg.append(0)
    msg.append(len(d))
    msg += d
    msg += (step % (1 << 64)).to_bytes(8, "big")
    msg.append(version)
    msg += addr
    msg += extra
    return hashlib.blake2b(bytes(msg), key=key, digest_size=n).digest()


def totp_ports(key, door, step, bind, lo, hi, knocks):
    assert 1 <= lo < hi <= 65535 and 1 <= knocks <= MAX_KNOCKS
    h = prf(key, "logknock totp v1", door, step, bind, b"", 64)
    span = hi - lo + 1
    ports = []
    off = 0
    for i in range(knocks):
        v = int.from_bytes(h[4 * i:4 * i + 4], "big")
        # After the first, one of the span - 1 ports other than the previous, evenly.
        off = v % span if i == 0 else (off + 1 + v % (span - 1)) % span
        ports.append(lo + off)
    return ports


def _plaintext(proto, port, seconds):
    word = (0x8000 if proto == "udp" else 0) | seconds
    return port.to_bytes(2, "big") + word.to_bytes(2, "big")


def enc_encode(key, door, step, bind, proto, port, seconds):
    if proto not in ("tcp", "udp") or not 1 <= port <= 65535 or not 0 <= seconds <= MAX_SECONDS:
        return None
    p = _plaintext(proto, port, seconds)
    tag = prf(key, "logknock mac v1", door, step, bind, p, MAC_BYTES)
    ks = prf(key, "logknock enc v1", door, step, bind, tag, 4)
    return bytes(a ^ b for a, b in zip(p, ks)) + tag


def enc_decode(key, door, step, bind, data):
    """(proto, port, seconds), or None."""
    assert len(data) == 4 + MAC_BYTES
    tag = data[4:]
    ks = prf(key, "logknock enc v1", door, step, bind, tag, 4)
    p = bytes(a ^ b for a, b in zip(data[:4], ks))
    if prf(key, "logknock mac v1", door, step, bind, p, MAC_BYTES) != tag:
        return None
    port = int.from_bytes(p[:2], "big")
    word = int.from_bytes(p[2:], "big")
    if port == 0:
        return None
    return ("udp" if word & 0x8000 else "tcp", port, word & 0x7fff)


# ---- the vectors ---------------------------------------------------------------

T0_STEP = 1795704455 // 30              # 2026-11-26T14:47:35Z in 30 s steps
DOOR_255 = ("door-of-255-bytes-" * 15)[:255]
DOOR_64 = "a-door-name-of-sixty-four-characters-to-test-longer-door-names-x"
V4 = "4:192.0.2.7"
V6 = "6:2001:db8::7"
# The address bytes of V4 followed by zeros: must not collide with V4.
V6_LIKE_V4 = "6:c000:207::"

TOTP = [
    # key, door, step, bind, lo, hi, knocks
    (FIXED_KEY, "ssh", T0_STEP, V4, 20000, 29999, 4),
    (FIXED_KEY, "ssh", T0_STEP, V6, 20000, 29999, 4),
    (FIXED_KEY, "ssh", T0_STEP, "none", 20000, 29999, 4),
    (FIXED_KEY, "ssh", T0_STEP, V6_LIKE_V4, 20000, 29999, 4),
    (FIXED_KEY, "ssh", T0_STEP + 1, V4, 20000, 29999, 4),
    (FIXED_KEY, "ssh", 0, "none", 20000, 29999, 4),
    (FIXED_KEY, "ssh", -1, V4, 20000, 29999, 4),
    (FIXED_KEY, "ssh", -T0_STEP, "none", 1024, 65535, 6),
    (FIXED_KEY, "ssh", (1 << 63) - 1, V6, 20000, 29999, 4),
    (FIXED_KEY, "ssh", -(1 << 63), V4, 20000, 29999, 4),
    # Two ports: the knocks alternate.
    (FIXED_KEY, "pair", T0_STEP, V4, 40000, 40001, 16),
    (FIXED_KEY, "pair", T0_STEP, "none", 65534, 65535, 16),
    (FIXED_KEY, "x", T0_STEP, V4, 1, 65535, 16),
    (FIXED_KEY, "x", T0_STEP, V4, 1, 65535, 1),
    (FIXED_KEY, DOOR_64, T0_STEP, V6, 30000, 30999, 8),
    (FIXED_KEY, DOOR_255, T0_STEP, V4, 30000, 30999, 8),
    (OTHER_KEY, "ssh", T0_STEP, V4, 20000, 29999, 4),
]

ENC = [
    # key, door, step, bind, proto, port, seconds
    (FIXED_KEY, "ssh", T0_STEP, V4, "tcp", 22, 0),
    (FIXED_KEY, "ssh", T0_STEP, V6, "tcp", 22, 0),
    (FIXED_KEY, "ssh", T0_STEP, "none", "tcp", 22, 0),
    (FIXED_KEY, "ssh", T0_STEP, V6_LIKE_V4, "tcp", 22, 0),
    (FIXED_KEY, "ssh", T0_STEP + 1, V4, "tcp", 22, 0),
    (FIXED_KEY, "ssh", T0_STEP, V4, "udp", 53, 32767),
    (FIXED_KEY, "ssh", T0_STEP, V4, "tcp", 443, 60),
    (FIXED_KEY, "ssh", T0_STEP, V4, "udp", 65535, 1),
    (FIXED_KEY, "ssh", T0_STEP, V6, "tcp", 1, 32767),
    (FIXED_KEY, "ssh", 0, "none", "tcp", 22, 30),
    (FIXED_KEY, "ssh", -1, V4, "tcp", 22, 30),
    (FIXED_KEY, "ssh", -T0_STEP, V6, "udp", 51820, 0),
    (FIXED_KEY, "x", T0_STEP, V4, "tcp", 22, 0),
    (FIXED_KEY, DOOR_64, T0_STEP, V4, "tcp", 8443, 120),
    (FIXED_KEY, DOOR_255, T0_STEP, "none", "udp", 1194, 3600),
    (OTHER_KEY, "ssh", T0_STEP, V4, "tcp", 22, 0),
]


def _self_check():
    """Properties of the reference itself, so that a slip in it shows here
    and not as a disagreement with the C to be argued over."""
    # No two knocks in a row share a port.
    for key, door, step, bind, lo, hi, knocks in TOTP:
        ports = totp_ports(key, door, step, bind, lo, hi, knocks)
        for i, port in enumerate(ports):
            assert lo <= port <= hi
            if i:
                assert port != ports[i - 1]
        # The first ports do not depend on how many knocks there are.
        if knocks > 1:
            assert totp_ports(key, door, step, bind, lo, hi, 1) == ports[:1]
    # And no port is likelier than another: over 4 ports, each knock after
    # the first is one of the 3 others about equally often.
    counts = {}
    for step in range(6000):
        ports = totp_ports(FIXED_KEY, "even", step, "none", 1000, 1003, 2)
        counts[ports[1] - ports[0]] = counts.get(ports[1] - ports[0], 0) + 1
    assert sorted(counts) == [-3, -2, -1, 1, 2, 3], counts
    for d in (1, 2, 3):
        assert 1700 < counts[d] + counts[d - 4] < 2300, counts
    for key, door, step, bind, proto, port, seconds in ENC:
        data = enc_encode(key, door, step, bind, proto, port, seconds)
        assert enc_decode(key, door, step, bind, data) == (proto, port, seconds)
        assert enc_decode(key, door, step + 1, bind, data) is None
        assert enc_decode(key, door[:-1] + "!", step, bind, data) is None
        for bit in range(8 * len(data)):
            bad = bytearray(data)
            bad[bit // 8] ^= 1 << (bit % 8)
            assert enc_decode(key, door, step, bind, bytes(bad)) is None
    assert enc_encode(FIXED_KEY, "ssh", 0, "none", "tcp", 0, 0) is None
    assert enc_encode(FIXED_KEY, "ssh", 0, "none", "tcp", 22, 32768) is None
    assert enc_encode(FIXED_KEY, "ssh", 0, "none", "icmp", 8, 0) is None


def main(out):
    _self_check()
    # The format's description, from this file's docstring, heads the file.
    for line in __doc__[__doc__.index("The file format"):].rstrip().split("\n"):
        out.write(("# " + line).rstrip() + "\n")
    out.write("# Generated by t/knock_codes_ref.py: edit that, not this file.\n\n")
    for key, door, step, bind, lo, hi, knocks in TOTP:
        ports = totp_ports(key, door, step, bind, lo, hi, knocks)
        out.write("totp %s %s %d %s %d-%d %d -> %s\n" % (key.hex(), door, step, bind, lo, hi, knocks,
                                                         ",".join(str(p) for p in ports)))
    out.write("\n")
    for key, door, step, bind, proto, port, seconds in ENC:
        data = enc_encode(key, door, step, bind, proto, port, seconds)
        out.write("enc %s %s %d %s %s/%d %d -> %s\n" % (key.hex(), door, step, bind, proto, port, seconds,
                                                        ",".join(str(b) for b in data)))


if __name__ == "__main__":
    main(sys.stdout)
