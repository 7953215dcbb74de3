"""An SMTP sink for the campaigns benchmark: aiosmtpd on 127.0.0.1:PORT, counting messages and
distinct Message-IDs; on SIGTERM it writes {"messages": n, "distinct": n} to COUNT_FILE.

Usage: python benchmarks/smtp_sink.py PORT COUNT_FILE
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class Counter:
    def __init__(self) -> None:
        self.messages = 0
        self.ids: set[bytes] = set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages += 1
        found = _MESSAGE_ID.search(envelope.content)
        if found:
            self.ids.add(found.group(1))
        return "250 OK"


def main() -> None:
    port, out = int(sys.argv[1]), Path(sys.argv[2])
    handler = Counter()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    out.write_text(json.dumps({"messages": handler.messages, "distinct": len(handler.ids)}))


if __name__ == "__main__":
    main()
