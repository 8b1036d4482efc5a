"""An error answer in the envelope of the door a path belongs to, for the layers that sit in
front of every door (the body limit, the connection guard) and so cannot ask the door."""

from __future__ import annotations

from runplane.api.batch_door.envelope import envelope


def error_body(path: str, status: int, message: str, batch_code: int) -> dict[str, object]:
    """eNMS's alert under /rest/, iVvy's envelope (with `batch_code`) under /api/, else
    Syncano's detail."""
    if path.startswith("/rest/"):
        return {"alert": f"Error {status} - {message}"}
    if path.startswith("/api/"):
        return envelope(status, message, batch_code)
    return {"detail": message}
