"""The domain's records: plain frozen data every layer reads, never live ORM objects or rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from runplane.model.statuses import FINAL_STATUSES

# The instance every database holds (made by migrate): where the service and batch doors act
# when a request names none.
DEFAULT_INSTANCE = "default"
DEFAULT_INSTANCE_DESCRIPTION = "Created at first start."

T = TypeVar("T")


@dataclass(frozen=True)
class Instance:
    id: int
    name: str
    description: str
    metadata: dict[str, Any]
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ApiKey:
    id: int
    instance_id: int | None
    instance_name: str | None
    role: str
    description: str
    created_at: datetime

    @property
    def is_account_key(self) -> bool:
        return self.instance_id is None


@dataclass(frozen=True)
class Script:
    id: int
    instance_id: int
    number: int
    label: str
    description: str
    source: str
    runtime_name: str
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ScriptEndpoint:
    id: int
    instance_id: int
    name: str
    script_id: int
    script_number: int
    description: str
    public: bool
    public_link: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TaskOutput:
    status: str
    exit_code: int | None
    stdout: str | None
    stderr: str | None
    output_truncated: bool
    duration_ms: int | None
    error: str | None
    # The task's structured result (a snippet's results) and its target, if any.
    result: Any = None
    target: str | None = None

    def as_outcome(self) -> TargetOutcome:
        """The run's only target's outcome (a single-task run)."""
        return TargetOutcome(
            position=0, target=self.target, status=self.status, result=self.result,
            exit_code=self.exit_code, stdout=self.stdout, stderr=self.stderr,
            error=self.error, duration_ms=self.duration_ms,
        )


@dataclass(frozen=True)
class Run:
    id: int
    instance_id: int
    kind: str
    script_id: int | None
    number: int | None
    status: str
    trigger: str
    payload: Any
    meta: dict[str, Any]
    tasks_total: int
    tasks_done: int
    tasks_failed: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    error: str | None
    runtime: str | None = None
    service_id: int | None = None
    max_parallel: int | None = None
    stop_requested: bool = False
    callback_url: str | None = None
    # Filled for single-task runs (a script trace) when asked for.
    output: TaskOutput | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class ScriptSpec:
    runtime_name: str
    source: str
    config: dict[str, Any]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    type: str
    source_code: str
    command: str
    timeout: float | None
    run_method: str


@dataclass(frozen=True)
class ClaimedTask:
    """A task this worker holds a lease on, with everything needed to execute it."""

    task_id: int
    run_id: int
    kind: str  # the run's kind, a RunKind value
    attempt: int
    instance_id: int
    instance_name: str
    instance_config: dict[str, Any]
    payload: Any
    meta: dict[str, Any]
    target: str | None = None
    target_data: dict[str, Any] | None = None
    script: ScriptSpec | None = None
    service: ServiceSpec | None = None
    tasks_total: int = 1  # of its run


@dataclass(frozen=True)
class TaskResult:
    """What the worker records when an execution ends."""

    status: str
    exit_code: int | None
    stdout: str
    stderr: str
    output_truncated: bool
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    error: str | None = None
    # A structured result to keep with the task (a snippet's `results`), if any.
    value: Any = None
    # Log lines the execution produced: {"severity", "message", "at"?: datetime}.
    logs: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool


# The inventory (service door) ------------------------------------------------------------

DEVICE_COLUMNS = (
    "name", "ip_address", "vendor", "model", "operating_system", "os_version", "location",
    "description", "port",
)


# Not frozen, unlike the other records: a pool's devices are built 100,000 at a time, and
# a frozen dataclass's __init__ costs four times as much.
@dataclass(slots=True)
class Device:
    id: int
    instance_id: int
    name: str
    ip_address: str
    vendor: str
    model: str
    operating_system: str
    os_version: str
    location: str
    description: str
    port: int | None
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def attributes(self) -> dict[str, Any]:
        """What a snippet sees as `device`: the columns, then the custom properties."""
        values = {name: getattr(self, name) for name in DEVICE_COLUMNS}
        return {**self.properties, **values, "id": self.id}

    def as_target(self) -> Target:
        return Target(self.id, self.name, self.ip_address, self.attributes())


class Target(NamedTuple):
    """A device as a run takes it: who it is, and what its execution sees of it."""

    id: int
    name: str
    ip_address: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Pool:
    id: int
    instance_id: int
    name: str
    description: str
    manually_defined: bool
    # {property: {"value": str, "match": "inclusion"|"equality"|"regex"|"empty", "invert": bool}}
    filters: dict[str, dict[str, Any]]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Service:
    id: int
    instance_id: int
    name: str
    type: str
    description: str
    source_code: str
    command: str
    script_id: int | None
    devices: list[str]
    pools: list[str]
    run_method: str
    max_processes: int
    number_of_retries: int
    time_between_retries: float
    timeout: float | None
    initial_payload: dict[str, Any]
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TargetOutcome:
    """One target's share of a finished (or running) run, for summaries."""

    position: int
    target: str | None
    status: str
    result: Any
    exit_code: int | None
    stdout: str | None
    stderr: str | None
    error: str | None
    duration_ms: int | None
    # When the target ended (None: not recorded apart, e.g. a single-task run's).
    finished_at: datetime | None = None


@dataclass(frozen=True)
class LogLine:
    id: int
    created_at: datetime
    severity: str
    source: str
    message: str
