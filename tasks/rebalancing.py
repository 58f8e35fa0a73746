"""Positions that grew long from many moves to one place are spread out again: the
run of tasks around them gets short, evenly spaced positions (tasks.positions), each
task with a new version and its event. Only that run changes, not the project's list."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat, Length

from accounts.models import User
from tasks import positions
from tasks.models import Task

logger = logging.getLogger(__name__)

# One thread: rebalances are rare, and two of one project would only wait on its lock.
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def rebalance_later(project_id: int) -> None:
    """After the current transaction commits, rebalance the project's long positions
    in the background (or at once with TASKS_REBALANCE_IN_BACKGROUND off, as tests
    and commands run). A rebalance lost with its process is asked for again by the
    next move that makes a long position."""
    if getattr(settings, "TASKS_REBALANCE_IN_BACKGROUND", True):
        transaction.on_commit(lambda: _submit(project_id), robust=True)
    else:
        transaction.on_commit(lambda: positions_rebalance(project_id), robust=True)


def _submit(project_id: int) -> None:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rebalance")
        _executor.submit(_in_thread, project_id)


def _in_thread(project_id: int) -> None:
    close_old_connections()
    try:
        positions_rebalance(project_id)
    except Exception:
        logger.exception("positions of project %s not rebalanced", project_id)
    finally:
        connections.close_all()


def positions_rebalance(project_id: int, actor: User | None = None) -> int:
    """Rebalance the project's long positions in a transaction of its own; how many
    tasks moved."""
    from tasks.services import _lock_projects

    with transaction.atomic():
        try:
            _lock_projects([project_id])
        except Exception:  # gone or archived meanwhile: nothing to order
            return 0
        return rebalance_locked(project_id, actor)


def rebalance_locked(project_id: int, actor: User | None) -> int:
    """Under the project's lock: every run of consecutive tasks whose positions are not
    of the short width, around a long one, gets evenly spaced short positions between
    its short neighbours (widened until they leave room). How many tasks changed."""
    from tasks.services import _write_unchecked

    tasks = Task.objects.filter(project_id=project_id)
    if (
        not tasks.annotate(length=Length("position"))
        .filter(length__gt=positions.REBALANCE_LENGTH)
        .exists()
    ):
        return 0
    ordered = list(tasks.order_by("position").values_list("pk", "position"))
    plan = _plan(ordered)
    if not plan:
        return 0
    locked = {task.pk: task for task in Task.objects.select_for_update().filter(pk__in=list(plan))}
    # Out of the way first ("~" is no key's character): a new position may be one
    # that another task of the run still holds.
    Task.objects.filter(pk__in=list(plan)).update(
        position=Concat(Value("~"), Cast("id", output_field=CharField()))
    )
    for pk in sorted(plan):
        if pk in locked:
            _write_unchecked(actor, locked[pk], {"position": plan[pk]})
    return len(plan)


def _plan(ordered: list[tuple[int, str]]) -> dict[int, str]:
    """New positions for the runs of long keys in `ordered` (ids and positions, in order)."""
    width, top = positions.WIDTH, positions.BASE**positions.WIDTH
    plan: dict[int, str] = {}
    index = 0
    while index < len(ordered):
        if len(ordered[index][1]) <= positions.REBALANCE_LENGTH:
            index += 1
            continue
        start = end = index
        while start > 0 and len(ordered[start - 1][1]) != width:
            start -= 1
        while end + 1 < len(ordered) and len(ordered[end + 1][1]) != width:
            end += 1
        # Widen the run until the short neighbours leave room for it.
        while True:
            low = positions.integer_part(ordered[start - 1][1]) if start > 0 else 0
            high = positions.integer_part(ordered[end + 1][1]) if end + 1 < len(ordered) else top
            count = end - start + 1
            if high - low > count:
                break
            if start > 0:
                start -= 1
            if end + 1 < len(ordered):
                end += 1
        gap = (high - low) // (count + 1)
        for offset, (pk, _) in enumerate(ordered[start : end + 1], 1):
            plan[pk] = positions.encode(low + offset * gap)
        index = end + 1
    return plan
