"""The framework ceiling: a Litestar endpoint that returns a fixed body."""

from litestar import Litestar, Response, get, post

BODY = b'{"predictions":[1],"local_importance_values":[[0.1,0.2]]}'


@post("/score", status_code=200)
async def score() -> Response[bytes]:
    return Response(BODY, media_type="application/json")


@get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}


def create_app() -> Litestar:
    return Litestar([score, readyz])
