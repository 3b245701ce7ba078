"""A worker that is delivered every message twice: at-least-once delivery at its worst.

`python -m tests.support.double_delivery NAME QUEUE,QUEUE…` runs the app's `StudioWorker`
(through `run_worker`, as `flask studio worker` does, with the app built from the environment),
except that each message it takes is first pushed back to the front of its queue, once per
message id across every such worker (a Redis set, `DUPLICATED_KEY`, remembers which). Another
idle worker takes the copy at once, so both run the same step at the same time; a busy one takes
it later. The racing test reads the set to know which messages were doubled.
"""

from __future__ import annotations

import sys

from rq.job import Job
from rq.queue import Queue

from jobs.runtime import StudioWorker, run_worker

DUPLICATED_KEY = "tests:double-delivery:duplicated"


class DoubleDeliveryWorker(StudioWorker):
    def dequeue_job_and_maintain_ttl(self, timeout: int | None,
                                     max_idle_time: int | None = None) -> tuple[Job, Queue] | None:
        taken = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        if taken is not None:
            job, queue = taken
            if self.connection.sadd(DUPLICATED_KEY, job.id):
                queue.push_job_id(job.id, at_front=True)
        return taken


def main() -> None:
    from app import app

    name, queues = sys.argv[1], tuple(sys.argv[2].split(","))
    run_worker(app, queues, worker_class=DoubleDeliveryWorker, name=name)


if __name__ == "__main__":
    main()
