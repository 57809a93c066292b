"""The first step of every request: its body read, up to a limit, before anything else looks at it.

A body is counted as it streams in, whatever its transfer encoding: a chunked request has no Content-Length to
refuse it by, and without this the whole of it would be buffered before the signature check. Past the limit the
request gets 413 problem+json at once and nothing more of it is read. A body within the limit is handed to the app
as it came.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producers.intake.problems import Problem


class BodyLimit:
    """ASGI middleware: 413 for a request whose body (declared or streamed) is over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        # compared by length first: int() refuses more than 4,300 digits, and no such body is within the limit
        digits = declared.lstrip(b"0") if declared is not None and declared.isdigit() else None
        if digits is not None and (len(digits) > len(str(self._max)) or int(digits or b"0") > self._max):
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)

        body = b"".join(chunks)
        given = False

        async def replay() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only a disconnect is left to hear

        await self._app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(413, "too-large", "Body too large", f"the body is over {self._max} bytes")
        response = problem.response(scope.get("path", ""))
        await response(scope, receive, send)
