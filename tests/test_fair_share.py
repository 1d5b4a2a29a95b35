"""Fair share in the job rules (rules.JobTable, shared by the embedded and the Ray managers): people
take turns leading batches, compatible jobs still share a batch (up to `max_batch` images), and
only the person over their share of the queue is refused. First come, first served is the
baseline (`fair_share=False`). The load it makes a difference under: bench/bench_fair.py."""
import pytest

from server.settings import Settings
from server.jobs.record import Job
from server.jobs.rules import JobTable, QueueFull


def job(person: str, images: int = 1, key: tuple = ("generate", "tiny", ())) -> Job:
    return Job(task="generate", model="tiny", total=10, key=key, recipe={}, person=person, images=images)


def table(fair: bool = True, **settings) -> JobTable:
    return JobTable(Settings(fair_share=fair, **{"max_batch": 16, "max_queue": 32, **settings}))


def batches(jobs_table: JobTable) -> list[list[str]]:
    """Who is in each batch, until the queue is empty."""
    taken = []
    while batch := jobs_table.take_batch("", "worker", 0):
        taken.append([j.person for j in batch])
    return taken


@pytest.mark.parametrize("fair, turn", [(True, 1), (False, 6)])
def test_a_single_image_waits_for_one_big_batch_not_for_all_of_them(fair, turn):
    """Ana's six 16-image jobs came first; Bo's one image leads the second batch, or waits for all six."""
    jobs_table = table(fair)
    for _ in range(6):
        jobs_table.add(job("ana", images=16))
    jobs_table.add(job("bo"))
    order = batches(jobs_table)
    assert order.index(["bo"]) == turn and order.count(["ana"]) == 6   # 16 images: a batch is full


def test_compatible_jobs_still_share_a_batch_taken_from_each_person_in_turn():
    jobs_table = table(max_batch=4)
    for person in ("ana",) * 6 + ("bo",) * 2 + ("cy",):
        jobs_table.add(job(person))
    jobs_table.add(job("bo", key=("sketch", "tiny", ())))   # another key: another batch
    assert batches(jobs_table) == [["ana", "bo", "cy", "ana"], ["bo", "ana", "ana", "ana"], ["ana"], ["bo"]]


def test_a_batch_holds_at_most_max_batch_images_and_a_larger_job_runs_alone():
    jobs_table = table(max_batch=8)
    for images in (20, 4, 4, 2):
        jobs_table.add(job("ana", images=images))
    assert [[j.images for j in jobs_table.take_batch("", "w", 0)] for _ in range(2)] == [[20], [4, 4]]


def test_only_the_person_over_their_share_of_the_queue_is_refused():
    jobs_table = table(max_queue=4)
    for _ in range(4):
        jobs_table.add(job("ana"))
    with pytest.raises(QueueFull):
        jobs_table.add(job("ana"))
    jobs_table.add(job("bo"))                  # the queue is full of Ana's: Bo still gets in
    jobs_table.add(job("bo"))
    with pytest.raises(QueueFull) as refused:  # two people: two jobs each
        jobs_table.add(job("bo"))
    assert refused.value.retry_after >= 1
    first_come = table(False, max_queue=4)
    for _ in range(4):
        first_come.add(job("ana"))
    with pytest.raises(QueueFull):
        first_come.add(job("bo"))


def running_batch(jobs_table: JobTable, person: str, images: int = 16) -> list[Job]:
    jobs_table.add(job(person, images=images))
    return jobs_table.take_batch("", "worker", 0)


def test_a_person_with_nothing_running_gets_a_turn_inside_a_running_batch():
    jobs_table = table()
    ana = running_batch(jobs_table, "ana")
    jobs_table.charge(ana, 2.0)
    jobs_table.add(job("ana", images=16))    # Ana's next job: she is running already, no turn for her
    assert jobs_table.take_turn("", ana, "worker", 0) == []
    jobs_table.add(job("bo"))
    turn = jobs_table.take_turn("", ana, "worker", 0)
    assert [j.person for j in turn] == ["bo"] and turn[0].status == "running"
    jobs_table.add(job("bo"))                # Bo is running now (his turn): his next job waits
    assert jobs_table.take_turn("", ana, "worker", 0) == []
    assert table(False).take_turn("", ana, "worker", 0) == []   # first come, first served: never


def test_a_person_who_used_the_device_more_of_late_waits_for_the_batch_to_end():
    """Two heavy users do not keep pausing each other: the turn goes to whoever used less."""
    jobs_table = table()
    ana = running_batch(jobs_table, "ana")
    jobs_table.add(job("bo", images=16))
    jobs_table.usage["bo"] = 30.0
    jobs_table.charge(ana, 10.0)
    assert jobs_table.take_turn("", ana, "worker", 0) == []
    jobs_table.charge(ana, 25.0)
    assert [j.person for j in jobs_table.take_turn("", ana, "worker", 0)] == ["bo"]


def test_a_paused_job_is_not_timed_while_paused_and_a_cancel_ends_it_at_once():
    jobs_table = table(job_timeout_s=10)
    ana = running_batch(jobs_table, "ana")
    jobs_table.pause(ana)
    ana[0].paused_at -= 60                   # a minute of other people's turns
    jobs_table.resume(ana)
    assert not jobs_table.step(ana[0], 1) and ana[0].status == "running"
    jobs_table.pause(ana)
    assert jobs_table.cancel(ana[0].id).status == "cancelled"
    assert jobs_table.step(ana[0], 2)        # its batch goes on: it stops
