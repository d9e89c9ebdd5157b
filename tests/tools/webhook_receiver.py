#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A webhook receiver for strongroom's tests, on loopback only.

Binds 127.0.0.1 on a free port (plain HTTP) and prints "PORT <n>". Every
POST is recorded as one JSON line in --log: path, the Strongroom-Signature
header, the body, and whether the signature verifies under the secret in
--secret-file, checked here independently of strongroom's C code (Python's
hmac over "<t>.<body>", hex, constant-time compare, 300 s tolerance). The
first --fail requests are answered 503, later ones 200.
"""
import argparse
import hmac
import hashlib
import http.server
import json
import signal
import sys
import threading
import time


def verify(secret, header, body, tolerance=300):
    if not header:
        return False
    t = None
    sigs = []
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        if k == "t":
            t = v
        elif k == "v1":
            sigs.append(v)
    if t is None or not t.isdigit() or abs(time.time() - int(t)) > tolerance:
        return False
    want = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(want, s) for s in sigs)


class Handler(http.server.BaseHTTPRequestHandler):
    log_path = None
    secret = b""
    fail = 0
    count = 0
    lock = threading.Lock()

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        sig = self.headers.get("Strongroom-Signature")
        with Handler.lock:
            Handler.count += 1
            failing = Handler.count <= Handler.fail
            with open(Handler.log_path, "a") as f:
                f.write(json.dumps({"path": self.path, "signature": sig,
                                    "content_type": self.headers.get("Content-Type"),
                                    "body": body.decode("utf-8", "replace"),
                                    "valid": verify(Handler.secret, sig, body),
                                    "answered": 503 if failing else 200}) + "\n")
        code = 503 if failing else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--fail", type=int, default=0)
    a = ap.parse_args()
    Handler.log_path = a.log
    with open(a.secret_file, "rb") as f:
        Handler.secret = f.read()
    Handler.fail = a.fail
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
