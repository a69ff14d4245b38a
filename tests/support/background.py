"""A call run on a thread of its own, for a test that must act while it waits."""

import threading


class Background:
    """Run ``function`` on a thread; ``result()`` waits for what it returned."""

    def __init__(self, function):
        self._value = self._error = None
        self._thread = threading.Thread(target=self._run, args=(function,), daemon=True)
        self._thread.start()

    def _run(self, function):
        try:
            self._value = function()
        except BaseException as err:  # handed to the test's thread
            self._error = err

    def result(self, timeout=20):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the request did not end within %gs" % timeout)
        if self._error is not None:
            raise self._error
        return self._value
