"""The JSON every door answers with, which never fails on text the doors now refuse."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    """UTF-8 JSON, or, for a value holding text UTF-8 cannot encode (a lone surrogate, kept
    before the doors refused it), the same JSON with non-ASCII escaped: a client reads back
    exactly what was stored, where rendering it would otherwise be a 500 for good."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, indent=None,
                              separators=(",", ":")).encode("ascii")
