"""Puts this process's wall clock ``CLOCK_SKEW_S`` seconds off (a host whose clock is wrong),
for the clock-skew fault test: on PYTHONPATH, Python imports it at start-up, and every Python
process started below (trials, launchers) inherits it. The monotonic clock is left alone,
as on a real host.

Debian's libfaketime would do this below Python, but its 0.9.10 breaks Python 3.11's timed
waits: ``threading.Event().wait(0.3)`` never returns under ``faketime -f +0``, and with
``FAKETIME_DONT_FAKE_MONOTONIC=1`` ``time.sleep`` fails with EINVAL."""

import os
import time

_SKEW_S = float(os.environ.get("CLOCK_SKEW_S", "0"))
_time, _time_ns = time.time, time.time_ns
time.time = lambda: _time() + _SKEW_S
time.time_ns = lambda: _time_ns() + int(_SKEW_S * 1e9)
