"""The `xncost` command and `python -m xncost`.

Signal handlers are set first, before the command line's imports, so that a signal at any
moment after the interpreter's own start-up is one line and exit code 130 (`xncost.io.signals`);
then the standard streams are checked (`xncost.io.streams`)."""

import os
import signal
import sys
import threading


def _interrupted_early(signum, frame):  # noqa: ANN001 - a signal handler
    """Until `signals.install`: nothing is written yet, so end at once."""
    os.write(2, b"xncost: error: interrupted\n")
    os._exit(130)


try:
    for _sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_sig, _interrupted_early)
except ValueError:  # imported outside the main thread: not the command line
    pass

from xncost.io import signals, streams  # noqa: E402 - after the handlers, on purpose


def main() -> None:
    """Console-script entry point."""
    signals.install()
    closed = streams.prepare()
    try:
        from xncost.cli.app import run

        code = streams.finish(run(sys.argv[1:], closed))
    except KeyboardInterrupt:
        code = signals.report()
    except Exception:
        # a signal's KeyboardInterrupt the interpreter wrapped (a RuntimeError from a class
        # body's __set_name__ during an import) is still the signal
        if not signals.received():
            raise
        code = signals.report()
    signals.finish()
    if any(_left_running(t) for t in threading.enumerate()):
        # a thread left waiting in C++ (a join that timed out) would abort the interpreter's
        # shutdown, and one a user's model started would hold it for as long as it runs: end
        # here, the output written and the streams flushed
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(code)
    sys.exit(code)


def _left_running(t: threading.Thread) -> bool:
    """A thread the interpreter's shutdown would wait for or trip on: xncost's own helper
    threads, and any non-daemon thread but the main one (started by a user's model)."""
    if t is threading.main_thread() or not t.is_alive():
        return False
    return t.name.startswith("xncost-") or not t.daemon


if __name__ == "__main__":  # not when re-imported as a spawned process's __mp_main__
    main()
