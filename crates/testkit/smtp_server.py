#!/usr/bin/env python3
"""The SMTP server the mailer's tests send to, built on aiosmtpd.

Listens on 127.0.0.1 (a free port unless --port is given) and prints `LISTENING <port>` on
stdout once it accepts connections. Every accepted message is stored in MAILDIR as
`<queue id>.eml` (the bytes received) beside `<queue id>.json` (the envelope), and the server
answers `250 2.0.0 Ok: queued as <queue id>`. Every RCPT and DATA it is asked for is appended
to MAILDIR/events.log as one JSON object a line. It exits when its stdin closes, so it never
outlives the test that started it.

  --reject REGEX   answer `550 5.1.1 mailbox unavailable` to RCPT of matching addresses
  --tempfail N     answer `451 4.3.0 try again later` to the first N DATA
  --stall N        never answer the first N DATA
  --detached       keep running when stdin closes (for scripts/stack; stop it with SIGTERM)
"""

import argparse
import asyncio
import json
import os
import re
import socket
import sys
import threading
import uuid

try:
    from aiosmtpd.smtp import SMTP
except ImportError:
    sys.stderr.write(
        "smtp_server.py: the Python package aiosmtpd is missing: run ensure_aiosmtpd from "
        "scripts/lib/services.sh, or set TD_TEST_PYTHON to a python that has it\n"
    )
    sys.exit(3)


class Handler:
    def __init__(self, maildir, reject, tempfail, stall):
        self.maildir = maildir
        self.reject = re.compile(reject) if reject else None
        self.tempfail = tempfail
        self.stall = stall
        self.events = open(os.path.join(maildir, "events.log"), "a", encoding="utf-8")

    def log(self, **event):
        self.events.write(json.dumps(event) + "\n")
        self.events.flush()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.log(event="rcpt", address=address)
        if self.reject and self.reject.search(address):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.log(event="data", mail_from=envelope.mail_from, rcpt_tos=envelope.rcpt_tos)
        if self.stall > 0:
            self.stall -= 1
            await asyncio.sleep(3600)
            return "451 4.3.0 stalled"
        if self.tempfail > 0:
            self.tempfail -= 1
            return "451 4.3.0 try again later"
        queue_id = uuid.uuid4().hex[:12].upper()
        content = envelope.original_content
        if content is None:
            content = envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        base = os.path.join(self.maildir, queue_id)
        with open(base + ".json", "w", encoding="utf-8") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        # Written under another name and renamed: a test never sees half a message.
        with open(base + ".tmp", "wb") as f:
            f.write(content)
        os.replace(base + ".tmp", base + ".eml")
        return f"250 2.0.0 Ok: queued as {queue_id}"


def exit_when_stdin_closes():
    sys.stdin.buffer.read()
    os._exit(0)


async def serve(args):
    handler = Handler(args.maildir, args.reject, args.tempfail, args.stall)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(64)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        # A fixed host name: aiosmtpd would otherwise look up the machine's FQDN.
        lambda: SMTP(handler, hostname="smtp.test", enable_SMTPUTF8=True, decode_data=False),
        sock=sock,
    )
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    if not args.detached:
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("maildir")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reject", default="")
    parser.add_argument("--tempfail", type=int, default=0)
    parser.add_argument("--stall", type=int, default=0)
    parser.add_argument("--detached", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.maildir, exist_ok=True)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
