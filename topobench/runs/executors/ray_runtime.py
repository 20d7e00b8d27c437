"""The driver's side of the local Ray runtime's watchdog (``ray_watchdog.py``): start it, tell it the session folder,
close it after a normal shutdown.

The watchdog is a separate, small process (standard library only) in its own session, so that neither ``kill -9`` of
the driver nor a Ctrl-C of its terminal takes it along before it has stopped the runtime the driver started."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

WATCHDOG = Path(__file__).with_name("ray_watchdog.py")
CLOSE_WAIT = 40.0  # seconds a normal stop waits for the watchdog (it gives up on a process after 30 s)


@dataclass
class Watchdog:
    """A running watchdog and the token the runtime's processes carry (``ray_watchdog.MARK``)."""

    process: subprocess.Popen
    token: str

    def watch(self, session_dir: str) -> None:
        """Tell the watchdog the runtime's session folder (the agents are found by the files they hold there)."""
        if session_dir and self.process.stdin is not None:
            try:
                self.process.stdin.write(f"{session_dir}\n".encode())
                self.process.stdin.flush()
            except OSError as exc:
                logger.warning("the Ray runtime's watchdog is gone (%s): a killed driver may leave Ray processes", exc)

    def close(self) -> None:
        """After ``ray.shutdown()``: the watchdog stops whatever is left of the runtime and exits."""
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(CLOSE_WAIT)
        except subprocess.TimeoutExpired:
            logger.warning("the Ray runtime's watchdog (pid %d) is still stopping processes", self.process.pid)


def start_watchdog() -> Watchdog:
    """Start the watchdog of a local runtime about to be started by this process."""
    token = secrets.token_hex(16)
    process = subprocess.Popen([sys.executable, "-I", str(WATCHDOG), str(os.getpid()), token],
                               stdin=subprocess.PIPE, start_new_session=True)
    return Watchdog(process, token)
