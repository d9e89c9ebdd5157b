#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A fake Twilio-compatible SMS API for strongroom's tests, on loopback only.

Binds 127.0.0.1 on a free port (plain HTTP; --tls-dir DIR serves HTTPS with
DIR/server.crt and DIR/server.key, generated as smtp_server.py does when
missing, DIR/ca.crt to trust) and prints "PORT <n>" on stdout. Every
request is recorded as one JSON line in --log: method, path, the decoded
basic-auth user and password, content type and the parsed form fields.
POST /2010-04-01/Accounts/<sid>/Messages.json answers 201 {"sid": "SM..."};
special recipients force errors: +15005550001 -> 400, +15005550002 -> 503,
+15005550003 -> 429, +15005550004 -> 201 without a sid. Anything else 404.
"""
import argparse
import base64
import http.server
import json
import os
import signal
import ssl
import sys
import threading
import urllib.parse

FORCED = {
    "+15005550001": (400, {"code": 21211, "message": "The 'To' number is not valid.",
                           "status": 400}),
    "+15005550002": (503, {"message": "Service unavailable", "status": 503}),
    "+15005550003": (429, {"code": 20429, "message": "Too many requests", "status": 429}),
    "+15005550004": (201, {"status": "queued"}),
}


class Handler(http.server.BaseHTTPRequestHandler):
    log_path = None
    count = 0
    lock = threading.Lock()

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n).decode("utf-8", "replace")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
        user = password = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        with Handler.lock:
            Handler.count += 1
            sid = "SM%032d" % Handler.count
            with open(Handler.log_path, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, "user": user,
                                    "password": password,
                                    "content_type": self.headers.get("Content-Type"),
                                    "raw": raw, "form": form}) + "\n")
        parts = self.path.split("/")
        if len(parts) != 5 or parts[1] != "2010-04-01" or parts[2] != "Accounts" \
                or parts[4] != "Messages.json":
            return self.reply(404, {"message": "not found", "status": 404})
        if user != parts[3]:
            return self.reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if form.get("To") in FORCED:
            code, obj = FORCED[form["To"]]
            return self.reply(code, obj)
        self.reply(201, {"sid": sid, "status": "queued", "to": form.get("To"),
                         "from": form.get("From"), "body": form.get("Body")})

    do_GET = do_PUT = do_DELETE = lambda self: self.reply(405, {"message": "method"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--tls-dir")
    a = ap.parse_args()
    Handler.log_path = a.log
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if a.tls_dir:
        if not os.path.exists(os.path.join(a.tls_dir, "server.crt")):
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            from smtp_server import make_certs
            make_certs(a.tls_dir)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.path.join(a.tls_dir, "server.crt"),
                            os.path.join(a.tls_dir, "server.key"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
