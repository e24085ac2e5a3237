"""A client that sends its first query together with its last login message.

usage: early_query.py [--plain] [--big] HOST PORT USER PASSWORD DATABASE
  --plain: no TLS; --big: the query padded with a 60 KiB comment (several TLS records, more than
  one read of the server's TLS input buffer)
SSLRequest, TLS, StartupMessage, SCRAM-SHA-256; the SASLResponse that ends the exchange and a
simple Query go out back to back, in one TCP segment (two TLS records), before AuthenticationOk
(PostgreSQL reads them in order; nothing in the protocol makes a client wait). Prints the query's
value and exits 0, or prints what went wrong and exits 1 (every read times out after 10 s).
"""
import argparse
import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
import sys


def message(tag: bytes, payload: bytes) -> bytes:
    return tag + struct.pack("!I", len(payload) + 4) + payload


class Conn:
    def __init__(self, sock):
        self.sock = sock

    def read_exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("server closed the connection")
            out += chunk
        return out

    def read(self):
        tag = self.read_exact(1)
        (length,) = struct.unpack("!I", self.read_exact(4))
        return tag, self.read_exact(length - 4)


def main() -> int:
    ap = argparse.ArgumentParser(description="a first query sent with the last login message")
    ap.add_argument("--plain", action="store_true", help="no TLS")
    ap.add_argument("--big", action="store_true", help="pad the query with a 60 KiB comment")
    for name in ("host", "port", "user", "password", "database"):
        ap.add_argument(name)
    a = ap.parse_args()
    plain, big = a.plain, a.big
    raw = socket.create_connection((a.host, int(a.port)), timeout=10)
    if plain:
        c = Conn(raw)
    else:
        raw.sendall(struct.pack("!II", 8, 80877103))  # SSLRequest
        if raw.recv(1) != b"S":
            print("server refused TLS")
            return 1
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = Conn(ctx.wrap_socket(raw))
    params = b"user\0" + a.user.encode() + b"\0database\0" + a.database.encode() + b"\0\0"
    c.sock.sendall(struct.pack("!II", len(params) + 8, 196608) + params)

    tag, body = c.read()
    if tag != b"R" or struct.unpack("!I", body[:4])[0] != 10 or b"SCRAM-SHA-256\0" not in body[4:]:
        print("expected a SCRAM-SHA-256 request, got", tag, body[:40])
        return 1
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n=,r={nonce}"
    first = ("n,," + first_bare).encode()
    c.sock.sendall(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
    tag, body = c.read()
    if tag != b"R" or struct.unpack("!I", body[:4])[0] != 11:
        print("expected SASLContinue, got", tag, body[:80])
        return 1
    server_first = body[4:].decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", a.password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, "sha256").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    # The last login message and the first query: two TLS records, corked into one TCP segment so
    # that they arrive together (the server reads both from its socket at once).
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    c.sock.sendall(message(b"p", f"{without_proof},p={proof}".encode()))
    pad = b" /* " + b"x" * 60000 + b" */" if big else b""
    c.sock.sendall(message(b"Q", b"SELECT 'early query answered'" + pad + b"\0"))
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)

    value = None
    ready = 0
    for _ in range(200):  # bounded: login replies, ParameterStatus, the query's few messages
        try:
            tag, body = c.read()
        except (socket.timeout, TimeoutError):
            print(f"no reply within 10 s (ReadyForQuery seen {ready} times)")
            return 1
        if tag == b"E":
            print("error:", body.decode(errors="replace").replace("\0", " ").strip())
            return 1
        if tag == b"D":
            (n,) = struct.unpack("!h", body[:2])
            (ln,) = struct.unpack("!i", body[2:6])
            value = body[6:6 + ln].decode() if n == 1 and ln >= 0 else None
        if tag == b"Z":
            ready += 1
            if ready == 2:
                break
    print(value)
    c.sock.sendall(message(b"X", b""))
    return 0 if value == "early query answered" else 1


if __name__ == "__main__":
    sys.exit(main())
