#!/usr/bin/env python3
"""A real SMTP server for keyward's tests (aiosmtpd): accepts every message on HOST:PORT and
writes each one, with its envelope, to DIR/<n>.eml so a test can read what was received.

    python3 scripts/smtp-sink.py --port 2525 --dir /tmp/mail [--host 127.0.0.1]
        [--tls starttls|implicit --cert CERT.pem --key KEY.pem] [--delay SECONDS]

--tls starttls requires STARTTLS before MAIL FROM; --tls implicit speaks TLS from the first byte.
--delay waits that long before accepting each message (a slow server, for restart tests).

Runs until SIGTERM or SIGINT. Prints "ready" on stdout once it listens.
"""

import argparse
import asyncio
import itertools
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory, delay):
        self.directory = directory
        self.delay = delay
        existing = [int(n.split(".")[0]) for n in os.listdir(directory) if n.endswith(".eml")]
        self.counter = itertools.count(max(existing, default=0) + 1)

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        n = next(self.counter)
        body = envelope.original_content or envelope.content
        if isinstance(body, str):
            body = body.encode()
        header = "X-Envelope-From: {}\r\nX-Envelope-To: {}\r\n".format(
            envelope.mail_from, ",".join(envelope.rcpt_tos)
        ).encode()
        tmp = os.path.join(self.directory, f".{n}.tmp")
        with open(tmp, "wb") as f:
            f.write(header + body)
        os.rename(tmp, os.path.join(self.directory, f"{n}.eml"))
        return "250 OK"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir, args.delay)
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    if args.tls == "starttls":
        controller = Controller(sink, hostname=args.host, port=args.port,
                                tls_context=context, require_starttls=True)
    elif args.tls == "implicit":
        controller = Controller(sink, hostname=args.host, port=args.port, ssl_context=context)
    else:
        controller = Controller(sink, hostname=args.host, port=args.port)
    controller.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
