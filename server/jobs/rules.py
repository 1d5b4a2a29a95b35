"""The job rules, written once for both managers: `JobTable` holds a manager's jobs and queues.

The queue limit (`QueueFull`, with a Retry-After from the running mean of a batch's seconds),
batching (a queued job plus the queued jobs with its key, up to `max_batch` images), the time
limit and its message, cancellation, ending a job, and expiry.

Fair share (`settings.fair_share`, the default): people take turns. Each batch is led by the oldest
job of the next person in turn who has one queued, and filled with compatible jobs taken from each
person in turn; a person may queue their share of `max_queue` (split evenly among the people with
queued jobs), so that one person's flood is refused with 429, never the others' jobs. And a person
does not wait for another's batch to end: between two steps of a running batch, a person with
nothing running who has used the device less of late than the batch's people gets a turn at once
(`take_turn`): their batch runs to its end inside the running one, which is paused meanwhile (the
paused time does not count against its time limit). Without fair share: first come, first served
(the oldest job leads, the queue is one for all, batches run to their end one after another).

A table has no lock: the embedded manager calls it under its own, the Ray job store from its one
event loop.

With a result store, the table records in it (its `journal`) each job taken by a worker, queued
again or ended (failed, cancelled); accepting a job and saving a result are the managers' (they
do it outside their lock). A job runs at most ATTEMPTS times: a worker's death or a server's
crash during a run counts as one.
"""
import math
import time
from collections import Counter, deque
from itertools import chain, zip_longest
from typing import Callable

from ..logs import log
from ..settings import Settings
from .record import Job

ATTEMPTS = 2           # a job whose run was cut short (its worker or server died) runs once more, then fails
MAX_NESTED = 3         # batches paused under one another on a device (take_turn), at most: each holds its tensors
USAGE_HALF_LIFE_S = 60.0   # a person's device time counts half after this long (take_turn's "of late")


class QueueFull(Exception):
    """The queue is at `max_queue`: the API answers 429 with Retry-After."""

    def __init__(self, retry_after: int):
        super().__init__(f"the job queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class JobTable:
    """Every job of a manager (until it expires) and its queues, one per device (or one in all).

    `on_end(job)` runs once when a job ends, e.g. to free its tensors and wake its waiters.
    """

    def __init__(self, settings: Settings, on_end: Callable[[Job], None] = lambda job: None, journal=None):
        self.settings, self.on_end = settings, on_end
        self.journal = journal            # a store.sqlite.ResultStore, or None
        self.jobs: dict[str, Job] = {}
        self.queues: dict[str, deque[Job]] = {}
        self.turns: deque[str] = deque()  # people, next to lead a batch first (fair share)
        self.usage: dict[str, float] = {}  # person -> device seconds of late (decayed: `charge`)
        self.charged_at = time.monotonic()
        self.seconds_per_batch = 1.0      # running mean, for Retry-After
        self.solved = {"batches": 0, "jobs": 0}   # since the start (bench/bench_load.py reads them)

    # ---- requests -----------------------------------------------------------------------------

    def add(self, job: Job, queue: str = "", limit: bool = True) -> None:
        """Queue a job; QueueFull when there is no room for its person (`check_room`; unless `limit`
        is False: a job accepted before a restart)."""
        self.expire()
        if limit:
            self.check_room(job.person)
        self.jobs[job.id] = job
        self.queues.setdefault(queue, deque()).append(job)
        if job.person not in self.turns:
            self.turns.append(job.person)

    def check_room(self, person: str) -> None:
        """QueueFull when `person` may queue no more jobs: `max_queue` are queued in all, or with
        fair share, `person` has queued their share of it (a newcomer is let in beside a full queue)."""
        if not self.settings.fair_share:
            if self.queued() >= self.settings.max_queue:
                raise QueueFull(self.retry_after())
            return
        queued = Counter(job.person for job in chain(*self.queues.values()))
        share = max(1, self.settings.max_queue // len(queued.keys() | {person}))
        if queued[person] >= share:
            raise QueueFull(self.retry_after(queued[person]))

    def get(self, job_id: str) -> Job | None:
        self.expire()
        return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """A queued job ends now, and so does a paused one (it stops when its batch goes on); a
        running one is marked, and ends at its next step (`step`)."""
        job = self.jobs.get(job_id)
        if job is None or job.terminal:
            return job
        job.cancel_requested = True
        if job.status == "queued":
            self._unqueue(job)
        if job.status == "queued" or job.paused_at is not None:
            self.end(job, "cancelled")
        return job

    def fail_queued(self, job: Job, error: str) -> None:
        """A queued job that cannot run (with Ray: no worker for too long) fails now, saying why."""
        self._unqueue(job)
        self.end(job, "failed", error=error)

    def _unqueue(self, job: Job) -> None:
        for queue in self.queues.values():
            if job in queue:
                queue.remove(job)

    def queued(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def running(self) -> list[Job]:
        return [job for job in self.jobs.values() if job.status == "running"]

    def retry_after(self, ahead: int | None = None) -> int:
        """Seconds until the queue has room, about: the batches of the `ahead` jobs (default: all the
        queued ones) times a batch's mean seconds."""
        batches = (self.queued() if ahead is None else ahead) / self.settings.max_batch + 1
        return max(1, min(60, math.ceil(batches * self.seconds_per_batch)))

    # ---- runs ---------------------------------------------------------------------------------

    def take_batch(self, queue: str, worker: str, pid: int) -> list[Job]:
        """A queued job (`_lead`) and the queued jobs with its key (with fair share, from each person
        in turn), up to `max_batch` images (a larger job runs alone): now running."""
        waiting = self.queues.get(queue)
        if not waiting:
            return []
        return self._start(waiting, self._lead(waiting), worker, pid)

    def take_turn(self, queue: str, active: list[Job], worker: str, pid: int) -> list[Job]:
        """With fair share, between two steps of the `active` batch on `worker`: a batch that runs
        now, inside it, or [] (it goes on). Led by the oldest job of a person who has no job running
        on the worker (active or paused) and has used the device less of late (`usage`) than each
        of the active batch's people; filled as `take_batch` fills. The caller pauses the active
        batch (`pause`) until the turn has run (`resume`)."""
        waiting = self.queues.get(queue)
        if not self.settings.fair_share or not waiting:
            return []
        self._decay()
        busy = {job.person for job in self.running() if job.worker == worker}
        below = min((self.usage.get(job.person, 0.0) for job in active), default=0.0)
        lead = next((job for job in waiting if job.person not in busy and self.usage.get(job.person, 0.0) < below),
                    None)
        if lead is None:
            return []
        self.turns.remove(lead.person)
        self.turns.append(lead.person)
        return self._start(waiting, lead, worker, pid)

    def _start(self, waiting: deque[Job], first: Job, worker: str, pid: int) -> list[Job]:
        """`first` and the queued jobs with its key, taken in turns up to `max_batch` images: now running."""
        batch, images = [first], first.images
        for job in self._in_turns([job for job in waiting if job.key == first.key and job is not first]):
            if images + job.images <= self.settings.max_batch:
                batch.append(job)
                images += job.images
        now = time.monotonic()
        for job in batch:
            waiting.remove(job)
            job.status, job.worker, job.pid, job.batch_size = "running", worker, pid, len(batch)
            job.attempts += 1
            job.started = job.last_step = now
        self._record("started", batch)
        return batch

    def charge(self, batch: list[Job], seconds: float) -> None:
        """The batch had the device for `seconds`: each person's share of it, by images, adds to their usage."""
        self._decay()
        images = sum(job.images for job in batch) or 1
        for job in batch:
            self.usage[job.person] = self.usage.get(job.person, 0.0) + seconds * job.images / images

    def _decay(self) -> None:
        now = time.monotonic()
        factor = 0.5 ** ((now - self.charged_at) / USAGE_HALF_LIFE_S)
        self.usage = {person: used * factor for person, used in self.usage.items() if used * factor > 1e-3}
        self.charged_at = now

    def pause(self, batch: list[Job]) -> None:
        """The batch waits while a turn runs inside it (`take_turn`)."""
        now = time.monotonic()
        for job in batch:
            job.paused_at = now

    def resume(self, batch: list[Job]) -> None:
        """The batch goes on; the time it was paused does not count against its time limit."""
        now = time.monotonic()
        for job in batch:
            if job.paused_at is not None:
                job.paused_s += now - job.paused_at
                job.paused_at = None
            job.last_step = now

    def _lead(self, waiting: deque[Job]) -> Job:
        """The job that leads the next batch: the oldest of the next person in turn who has one queued
        (they then go last in turn); first come, first served: the oldest."""
        if not self.settings.fair_share:
            return waiting[0]
        oldest = {}
        for job in waiting:
            oldest.setdefault(job.person, job)
        person = next(p for p in self.turns if p in oldest)
        self.turns.remove(person)
        self.turns.append(person)
        return oldest[person]

    def _in_turns(self, jobs: list[Job]) -> list[Job]:
        """The jobs in the order a batch takes them: with fair share, each person's next one in turn
        (each person's in the order they came); else as they came."""
        if not self.settings.fair_share:
            return jobs
        mine: dict[str, list[Job]] = {}
        for job in jobs:
            mine.setdefault(job.person, []).append(job)
        rounds = zip_longest(*(mine[p] for p in self.turns if p in mine))
        return [job for turn in rounds for job in turn if job is not None]

    def step(self, job: Job, step: int) -> bool:
        """Record a running job's step; True when it must stop now (it has ended: cancelled, or past
        the time limit)."""
        job.step, job.last_step = step, time.monotonic()
        if job.cancel_requested:
            self.end(job, "cancelled")
            return True
        limit = self.settings.job_timeout_s
        if job.last_step - job.started - job.paused_s > limit:
            self.end(job, "failed", error=f"the job ran past the time limit of {limit:g} s "
                                          f"(step {step} of {job.total}): ask for fewer steps")
            return True
        return False

    def requeue(self, job: Job, queue: str = "") -> None:
        """A running job whose worker died: queued again, first in line, from step 0."""
        job.status, job.step, job.preview, job.cancel_requested = "queued", 0, None, False
        job.worker = job.pid = job.paused_at = None
        job.paused_s = 0.0
        self.queues.setdefault(queue, deque()).appendleft(job)
        self._record("requeued", job)

    def batch_done(self, seconds: float, jobs: int) -> None:
        """A batch of `jobs` jobs was solved in `seconds`."""
        self.seconds_per_batch = 0.8 * self.seconds_per_batch + 0.2 * seconds
        self.solved["batches"] += 1
        self.solved["jobs"] += jobs

    # ---- endings ------------------------------------------------------------------------------

    def end(self, job: Job, status: str, *, error: str | None = None, result: dict | None = None) -> bool:
        """End a job once (False when it had ended already), log it, and run `on_end`."""
        if job.terminal:
            return False
        job.status, job.error, job.result, job.finished = status, error, result, time.monotonic()
        if status != "done":   # a done job's result was saved before it ended
            self._record("ended", job)
        self.on_end(job)
        log("job_" + status, id=job.id, task=job.task, model=job.model, step=job.step, total=job.total,
            batch=job.batch_size, worker=job.worker, attempts=job.attempts,
            seconds=job.finished - (job.started or job.created), **({"error": error} if error else {}))
        return True

    def _record(self, what: str, arg) -> None:
        """Tell the journal; a store that fails is logged, the job goes on (it is in memory)."""
        if self.journal is None:
            return
        try:
            getattr(self.journal, what)(arg)
        except OSError as e:   # StoreError: the database is locked for too long, the disk full, ...
            log("store_error", action=what, error=str(e))

    def expire(self) -> None:
        """Forget the jobs that ended more than `job_ttl_s` ago."""
        cutoff = time.monotonic() - self.settings.job_ttl_s
        for job_id in [j.id for j in self.jobs.values() if j.terminal and j.finished < cutoff]:
            del self.jobs[job_id]
