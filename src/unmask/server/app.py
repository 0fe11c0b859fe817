"""The FastAPI app: REST endpoints around the one ``Unmasker``, the page, the study, JSON errors throughout."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Annotated

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from starlette.middleware.trustedhost import TrustedHostMiddleware

from unmask._version import __version__
from unmask.errors import UnmaskError
from unmask.server.catalogue import Catalogue
from unmask.server.gate import UploadGate
from unmask.server.limits import BodyLimits
from unmask.server.pool import WorkerCrashed, WorkerPool
from unmask.server.schemas import DetectResponse, ErrorResponse, Health, ModelsResponse
from unmask.server.settings import Settings
from unmask.server.study_api import study_router
from unmask.server.tasks import RemoveResult, UploadError

STATIC = Path(str(resources.files("unmask.server") / "static"))
UPLOAD_PATHS = frozenset({"/api/v1/remove", "/api/v1/detect"})
ERRORS = {status: {"model": ErrorResponse} for status in (400, 404, 408, 413, 422, 503)}


async def _read_image(upload: UploadFile, field: str, max_pixels: int) -> tuple[bytes, str | None]:
    """The upload's bytes and Pillow format, after a header-only check of readability and pixel count."""
    data = await upload.read()
    if not data:
        raise HTTPException(400, f"{field}: the upload is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height, image_format = image.width, image.height, image.format
    except Image.DecompressionBombError:
        raise HTTPException(413, f"{field}: refused as a possible decompression bomb (too many pixels)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise HTTPException(400, f"{field}: not a readable image ({type(error).__name__})") from None
    if width * height > max_pixels:
        raise HTTPException(413, f"{field}: {width}x{height} is {width * height:,} pixels, over the server's limit "
                                 f"of {max_pixels:,}; downscale the photo")
    return data, image_format


def _download_name(filename: str | None, suffix: str) -> str:
    """``<stem>.unmasked<suffix>`` from the client's file name, reduced to safe characters (never a path)."""
    stem = PurePosixPath((filename or "photo").replace("\\", "/")).stem
    return f"{re.sub(r'[^A-Za-z0-9_-]+', '_', stem)[:80] or 'photo'}.unmasked{suffix}"


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _validation_message(error: RequestValidationError) -> str:
    """One line out of pydantic's error list, e.g. ``image: Field required``."""
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path"))
        parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def _install_error_handlers(app: FastAPI, pool: WorkerPool) -> None:
    """Every error becomes ``{"detail": "<one line>"}`` with a fitting status."""

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(error))

    @app.exception_handler(UploadError)
    async def bad_upload(_: Request, error: UploadError) -> JSONResponse:
        return _error(400, str(error))

    @app.exception_handler(UnmaskError)
    async def cannot_process(_: Request, error: UnmaskError) -> JSONResponse:
        return _error(getattr(error, "status", 422), str(error))

    @app.exception_handler(WorkerCrashed)
    async def crashed(_: Request, error: WorkerCrashed) -> JSONResponse:
        return _error(503, str(error), {"Retry-After": str(pool.retry_after())})

    @app.exception_handler(Exception)
    async def internal(_: Request, error: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(error).__name__}); the server log has the details")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app: REST API under /api/v1, the page at /, the study at /study, /healthz, /openapi.json."""
    settings = settings or Settings()
    pool = WorkerPool(settings.workers, settings.queue, settings.worker_threads())
    catalogue = Catalogue(pool, settings.backend)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Not awaited: serve while the workers start.
        asyncio.get_running_loop().run_in_executor(None, pool.warm, settings.backend)
        yield
        pool.close()

    app = FastAPI(title="unmask", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Find what covers a face in a photo and paint a believable face back. The filled-in "
                              "face is invented, not recovered.")
    app.state.settings, app.state.pool, app.state.catalogue = settings, pool, catalogue
    _install_error_handlers(app, pool)
    app.add_middleware(UploadGate, pool=pool, paths=UPLOAD_PATHS)  # innermost of the three
    app.add_middleware(BodyLimits, upload_paths=UPLOAD_PATHS, upload_bytes=settings.max_upload_bytes,
                       other_bytes=settings.max_body_bytes, read_timeout=settings.read_timeout,
                       min_rate=settings.min_upload_rate)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts), www_redirect=False)

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Liveness and current load."""
        return Health(version=__version__, workers=pool.workers, capacity=pool.capacity, admitted=pool.admitted)

    @app.get("/api/v1/models", response_model=ModelsResponse, tags=["unmask"])
    async def models() -> ModelsResponse:
        """The models of the registry, which of them can run here and the default."""
        return await catalogue.get()

    @app.post("/api/v1/remove", tags=["unmask"], response_class=Response, responses={
        **ERRORS, 200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
                        "description": "the photo with the faces filled in, same size and format as the input"}})
    async def remove(image: Annotated[UploadFile, File(description="the photo")],
                     mask: Annotated[UploadFile | None, File(description="white = hole; found when omitted")] = None,
                     reference: Annotated[UploadFile | None, File(description="another photo of the person")] = None,
                     model: Annotated[str | None, Form(description="a model of /api/v1/models")] = None) -> Response:
        """Remove what covers the faces; the result keeps the input's size and format (others come back PNG)."""
        model_name = await catalogue.resolve(model)
        photo, image_format = await _read_image(image, "image", settings.max_pixels)
        hole = None if mask is None else (await _read_image(mask, "mask", settings.max_pixels))[0]
        guide = None if reference is None else (await _read_image(reference, "reference", settings.max_pixels))[0]
        result: RemoveResult = await pool.run("remove_job", photo, image_format, model_name, hole, guide,
                                              settings.backend)
        headers = {"Content-Disposition": f'attachment; filename="{_download_name(image.filename, result.suffix)}"',
                   "X-Unmask-Model": model_name, "X-Unmask-Faces": str(result.faces),
                   "X-Unmask-Region": result.region}
        if result.notes:  # e.g. why a reference photo could not be used; header values must be ASCII
            headers["X-Unmask-Notes"] = " | ".join(result.notes).encode("ascii", "replace").decode()
        return Response(result.data, media_type=result.media_type, headers=headers)

    @app.post("/api/v1/detect", tags=["unmask"], response_model=DetectResponse, responses={
        **ERRORS, 200: {"content": {"application/json": {}, "image/png": {}},
                        "description": "faces and mask as JSON, or only the mask PNG with format=png"}})
    async def detect(image: Annotated[UploadFile, File(description="the photo")],
                     format: Annotated[str, Query(pattern="^(json|png)$")] = "json") -> Response:
        """Find the faces and what covers them; the mask is white (255) where occluded."""
        photo, _ = await _read_image(image, "image", settings.max_pixels)
        found = DetectResponse(**await pool.run("detect_job", photo))
        if format == "png":
            return Response(base64.b64decode(found.mask_png), media_type="image/png",
                            headers={"X-Unmask-Faces": str(len(found.faces))})
        return JSONResponse(found.model_dump())

    app.include_router(study_router(settings))

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/study", include_in_schema=False)
    def study_page() -> FileResponse:
        return FileResponse(STATIC / "study.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
