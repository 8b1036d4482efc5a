"""How a claim fills its slots (store/claims.plan_groups): a task to a slot, or a group of one
service run's snippet targets to a slot, within the runs' and instances' limits."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from runplane.store.claims import NO_GROUPING, Grouping, plan_groups

SNIPPETS = Grouping(size=4, service_types=("python_snippet_service",))


def candidate(task_id: int, run_id: int, *, kind: str = "service", target: str | None = "d",
              service_type: str | None = "python_snippet_service", instance_id: int = 1,
              max_parallel: int | None = None) -> Any:
    return SimpleNamespace(id=task_id, run_id=run_id, target=target, kind=kind,
                           service_type=service_type, instance_id=instance_id,
                           max_parallel=max_parallel)


def plan(candidates: list[Any], slots: int, grouping: Grouping = SNIPPETS,
         run_room: dict[int, int] | None = None, instance_limit: int | None = None,
         instance_room: dict[int, int] | None = None) -> tuple[list[list[int]], bool]:
    return plan_groups(candidates, slots=slots, grouping=grouping, run_room=run_room or {},
                       instance_room=instance_room or {}, instance_limit=instance_limit)


def test_without_grouping_each_task_takes_a_slot() -> None:
    groups, held = plan([candidate(i, 1) for i in range(5)], 3, NO_GROUPING)
    assert groups == [[0], [1], [2]] and not held


def test_a_run_s_targets_are_shared_out_over_the_slots() -> None:
    groups, _ = plan([candidate(i, 1) for i in range(6)], 3)
    assert groups == [[0, 1], [2, 3], [4, 5]]  # 6 waiting over 3 slots: 2 each


def test_groups_are_at_most_the_batch_size() -> None:
    groups, _ = plan([candidate(i, 1) for i in range(20)], 2)
    assert groups == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_scripts_shell_commands_and_once_runs_take_a_slot_each() -> None:
    candidates = [
        candidate(1, 10, kind="script", target=None, service_type=None),
        candidate(2, 11, service_type="shell_command_service"),
        candidate(3, 11, service_type="shell_command_service"),
        candidate(4, 12, target=None),  # run_method "once": one task, no device
        candidate(5, 13), candidate(6, 13),
    ]
    groups, _ = plan(candidates, 5)
    assert groups == [[1], [2], [3], [4], [5, 6]]


def test_a_run_s_limit_counts_every_grouped_target() -> None:
    candidates = [candidate(i, 1, max_parallel=3) for i in range(8)]
    groups, held = plan(candidates, 2)
    assert sum(len(group) for group in groups) == 3 and held
    assert groups == [[0, 1, 2]]  # 8 waiting over 2 slots would be 4 a group; room for 3


def test_an_instance_limit_counts_every_grouped_target() -> None:
    candidates = [candidate(i, 1) for i in range(6)]
    groups, held = plan(candidates, 2, instance_limit=2)
    assert groups == [[0, 1]] and held


def test_a_full_claim_still_fills_open_groups_from_later_candidates() -> None:
    candidates = [candidate(1, 1), candidate(2, 2, kind="script", target=None,
                                                 service_type=None), candidate(3, 1)]
    groups, _ = plan(candidates, 2)
    assert groups == [[1, 3], [2]]
