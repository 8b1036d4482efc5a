"""The domain model: records, statuses and run kinds. Plain data, no I/O; every layer reads it."""

from runplane.model.credentials import SECRET_FIELDS, Credential, Secrets
from runplane.model.records import (
    DEFAULT_INSTANCE,
    DEFAULT_INSTANCE_DESCRIPTION,
    DEVICE_COLUMNS,
    ApiKey,
    ClaimedTask,
    Device,
    Instance,
    LogLine,
    Page,
    Pool,
    Run,
    Script,
    ScriptEndpoint,
    ScriptSpec,
    Service,
    ServiceSpec,
    Target,
    TargetOutcome,
    TaskOutput,
    TaskResult,
)
from runplane.model.statuses import (
    ABORTED,
    BATCH_RUN,
    FAILURE,
    FINAL_STATUSES,
    PENDING,
    PROCESSING,
    QUEUED,
    RESULT_NOT_SET,
    RUNNING,
    SCRIPT_RUN,
    SERVICE_RUN,
    SUCCESS,
    TIMEOUT,
    RunKind,
    RunStatus,
    TaskState,
)

__all__ = [
    "ABORTED", "BATCH_RUN", "DEFAULT_INSTANCE", "DEFAULT_INSTANCE_DESCRIPTION", "DEVICE_COLUMNS",
    "FAILURE", "FINAL_STATUSES", "PENDING", "PROCESSING", "QUEUED", "RESULT_NOT_SET", "RUNNING",
    "SCRIPT_RUN", "SECRET_FIELDS", "SERVICE_RUN", "SUCCESS", "TIMEOUT", "ApiKey", "ClaimedTask",
    "Credential", "Device", "Instance", "LogLine", "Page", "Pool", "Run", "RunKind", "RunStatus",
    "Script", "ScriptEndpoint", "ScriptSpec", "Secrets", "Service", "ServiceSpec", "Target",
    "TargetOutcome", "TaskOutput", "TaskResult", "TaskState",
]
