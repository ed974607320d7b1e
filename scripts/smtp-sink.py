#!/usr/bin/env python3
"""A real SMTP server for keyward's tests (aiosmtpd): accepts every message on HOST:PORT and
writes each one, with its envelope, to DIR/<n>.eml so a test can read what was received.

    python3 scripts/smtp-sink.py --port 2525 --dir /tmp/mail [--host 127.0.0.1]
        [--tls starttls|implicit --cert CERT.pem --key KEY.pem] [--delay SECONDS]
        [--auth-user USER [--auth-password PASSWORD]]

--tls starttls requires STARTTLS before MAIL FROM; --tls implicit speaks TLS from the first byte.
--delay waits that long before accepting each message (a slow server, for restart tests).
--auth-user requires SMTP AUTH (PLAIN or LOGIN) as USER before MAIL FROM; wrong credentials get
"535 5.7.8 Authentication credentials invalid". The password is --auth-password or, so that it
stays out of the process list, the environment variable SMTP_SINK_PASSWORD. With --tls starttls,
AUTH is offered and accepted only after STARTTLS. A message received after a login is written
with an "X-Authenticated-User: USER" line after the envelope lines.

Runs until SIGTERM or SIGINT. Prints "ready" on stdout once it listens.
"""

import argparse
import asyncio
import hmac
import itertools
import logging
import os
import signal
import ssl
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


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
        )
        # Tests read the envelope from the first two lines, so this one comes after them.
        if session.authenticated:
            header += "X-Authenticated-User: {}\r\n".format(session.auth_data.login.decode())
        header = header.encode()
        tmp = os.path.join(self.directory, f".{n}.tmp")
        with open(tmp, "wb") as f:
            f.write(header + body)
        os.rename(tmp, os.path.join(self.directory, f"{n}.eml"))
        return "250 OK"


class Authenticator:
    """Accepts one user name and password (aiosmtpd's `authenticator`); anything else makes
    aiosmtpd answer 535. Nothing about a login attempt is printed, so a password never reaches
    the test's output from here."""

    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        # PLAIN and LOGIN, the mechanisms aiosmtpd offers, carry a user name and password.
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        # compare_digest takes the same time wherever the values differ, as a real server would.
        ok = hmac.compare_digest(auth_data.login, self.user) and hmac.compare_digest(
            auth_data.password, self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def auth_parameters(args):
    """The aiosmtpd SMTP keyword arguments for --auth-user (none without it)."""
    if not args.auth_user:
        return {}
    password = args.auth_password
    if password is None:
        password = os.environ.get("SMTP_SINK_PASSWORD")
    if not password:
        sys.exit("smtp-sink: --auth-user needs --auth-password or SMTP_SINK_PASSWORD")
    # aiosmtpd counts a connection as encrypted only once STARTTLS succeeded: on an implicit TLS
    # listener it would refuse AUTH ("538 Encryption required") although every byte is already
    # encrypted, so there, and on a plain listener (tests only), it must not ask for TLS itself.
    require_tls = args.tls == "starttls"
    # aiosmtpd warns at every connection when it does not require TLS for AUTH (deliberate
    # here), and at every login about the deprecated Session.login_data it sets itself. Neither
    # says anything about the test, so they stay out of its output.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    noise = ("auth_required == True but auth_require_tls", "Session.login_data is deprecated")
    logging.getLogger("mail.log").addFilter(
        lambda record: not record.getMessage().startswith(noise)
    )
    return {
        "authenticator": Authenticator(args.auth_user, password),
        "auth_required": True,
        "auth_require_tls": require_tls,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--auth-user")
    parser.add_argument("--auth-password")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir, args.delay)
    auth = auth_parameters(args)
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    if args.tls == "starttls":
        controller = Controller(sink, hostname=args.host, port=args.port,
                                tls_context=context, require_starttls=True, **auth)
    elif args.tls == "implicit":
        controller = Controller(sink, hostname=args.host, port=args.port, ssl_context=context,
                                **auth)
    else:
        controller = Controller(sink, hostname=args.host, port=args.port, **auth)
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
