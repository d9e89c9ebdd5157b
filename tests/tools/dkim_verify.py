#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Verifies every DKIM-Signature of a message with dkimpy (python3-dkim).

  dkim_verify.py MESSAGE DNS_TXT_FILE...

Each DNS_TXT_FILE holds lines `NAME TXT "v=DKIM1; k=...; p=..."` (the form
`strongroom init` writes to dkim-dns.txt); they stand in for DNS. Prints one
line per signature ("ok a=rsa-sha256 d=... s=...") and exits 0 only if there
is at least one signature and all of them verify; 1 otherwise.
"""
import re
import sys

import dkim


def main():
    records = {}
    for path in sys.argv[2:]:
        with open(path) as f:
            for line in f:
                m = re.match(r'^(\S+)\s+TXT\s+"(.*)"\s*$', line.strip())
                if m:
                    records[m.group(1).lower().rstrip(".")] = m.group(2).encode()

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return records.get(name.lower().rstrip("."))

    with open(sys.argv[1], "rb") as f:
        msg = f.read()
    d = dkim.DKIM(msg)
    n = sum(1 for h in d.headers if h[0].lower() == b"dkim-signature")
    if n == 0:
        print("no DKIM-Signature")
        return 1
    ok = True
    for i in range(n):
        why = ""
        try:
            good = d.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:  # a tampered body raises rather than returns
            good, why = False, " (%s)" % e
        sig = dict(d.signature_fields) if d.signature_fields else {}
        print("%s a=%s d=%s s=%s%s" % ("ok" if good else "FAIL",
                                       sig.get(b"a", b"?").decode(), sig.get(b"d", b"?").decode(),
                                       sig.get(b"s", b"?").decode(), why))
        ok = ok and good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
