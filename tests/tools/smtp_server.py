#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A real SMTP server (aiosmtpd) for strongroom's tests, on loopback only.

Binds 127.0.0.1 on a free port and prints "PORT <n>" on stdout once it
accepts connections. Each accepted message is saved byte for byte (as
received after dot-unstuffing) to OUT/<n>.eml, with the envelope in
OUT/<n>.env. Variants:
  --tls-dir DIR   generate a CA and a server certificate for 127.0.0.1 with
                  openssl(1) in DIR (DIR/ca.crt is what clients trust), offer
                  STARTTLS and require it before MAIL
  --fail-first N  answer "451 4.3.0" to the end of DATA for the first N
                  messages, then accept
Any recipient whose local part starts with "reject" gets "550 5.1.1".
Stops on SIGTERM.
"""
import argparse
import asyncio
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys

from aiosmtpd.smtp import SMTP


def make_certs(d):
    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=d,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=strongroom test SMTP CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")


class Handler:
    def __init__(self, out, fail_first):
        self.out = out
        self.fail_left = fail_first
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("reject"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_left > 0:
            self.fail_left -= 1
            return "451 4.3.0 Try again later"
        self.count += 1
        n = self.count
        with open(os.path.join(self.out, "%d.eml.tmp" % n), "wb") as f:
            f.write(envelope.original_content)
        with open(os.path.join(self.out, "%d.env" % n), "w") as f:
            f.write("%s\n%s\n%s\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos),
                                      "tls" if session.ssl else "plain"))
        # Rename last: a test polling for N.eml sees whole files only.
        os.rename(os.path.join(self.out, "%d.eml.tmp" % n),
                  os.path.join(self.out, "%d.eml" % n))
        return "250 2.0.0 Ok: queued as TEST%04d" % n


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tls-dir")
    ap.add_argument("--fail-first", type=int, default=0)
    a = ap.parse_args()
    # Failed handshakes are what some tests provoke; keep their output quiet.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    ctx = None
    if a.tls_dir:
        make_certs(a.tls_dir)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.path.join(a.tls_dir, "server.crt"),
                            os.path.join(a.tls_dir, "server.key"))
    handler = Handler(a.out, a.fail_first)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", tls_context=ctx,
                     require_starttls=ctx is not None),
        sock=sock)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("PORT %d" % sock.getsockname()[1], flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
