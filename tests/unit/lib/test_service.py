"""Services: threads made in start(), one shared deadline for stopping, alive() that tells the truth."""

import threading
import time
import unittest

from streamerbrainz.lib.service import Service, ThreadService, stop_all


class Recording(Service):
    def __init__(self, name, log, stops=True):
        self.name = name
        self.log = log
        self.stops = stops

    def stop(self, deadline):
        self.log.append((self.name, deadline))
        return self.stops


class Waiter(ThreadService):
    name = "waiter"

    def __init__(self):
        super().__init__()
        self.woken = threading.Event()

    def run(self):
        self.stopping.wait()

    def wake(self):
        self.woken.set()


class StopAllTest(unittest.TestCase):

    def test_reverse_start_order_one_deadline_and_the_late_ones_named(self):
        log = []
        services = [Recording("hooks", log), Recording("sessions", log, stops=False),
                    Recording("accept", log)]
        deadline = time.monotonic() + 1.5
        self.assertEqual(stop_all(services, deadline), ["sessions"])
        self.assertEqual(log, [("accept", deadline), ("sessions", deadline),
                               ("hooks", deadline)])


class ThreadServiceTest(unittest.TestCase):

    def test_no_thread_before_start_and_none_after_stop(self):
        before = threading.active_count()
        service = Waiter()
        self.assertFalse(service.alive())
        self.assertEqual(threading.active_count(), before)
        service.start()
        self.assertTrue(service.alive())
        self.assertTrue(service.stop(time.monotonic() + 5))
        self.assertTrue(service.woken.is_set())
        self.assertFalse(service.alive())

    def test_stopping_what_never_started_is_done(self):
        self.assertTrue(Waiter().stop(time.monotonic()))

    def test_a_thread_that_died_is_not_alive(self):
        class Dies(ThreadService):
            name = "dies"
            ended = threading.Event()

            def run(self):
                self.ended.set()

        service = Dies()
        service.start()
        self.assertTrue(service.ended.wait(5))
        service._thread.join(5)
        self.assertFalse(service.alive())


if __name__ == "__main__":
    unittest.main()
