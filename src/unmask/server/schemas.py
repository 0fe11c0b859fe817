"""Request and response bodies of the REST API (pydantic); binary images travel as multipart uploads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PARTICIPANT_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


class ErrorResponse(BaseModel):
    """Every error: one line that says what went wrong and what to do."""

    detail: str = Field(examples=["image: not a readable image (UnidentifiedImageError: cannot identify image file)"])


class Health(BaseModel):
    """Liveness and load of the server."""

    status: Literal["ok"] = "ok"
    version: str
    workers: int = Field(description="pipeline worker processes")
    capacity: int = Field(description="requests admitted at once (running + queued); more get 503")
    admitted: int = Field(description="requests admitted now")


class ModelInfo(BaseModel):
    """One inpainting model of the registry and whether this installation can run it."""

    name: str
    kind: Literal["classical", "learned"]
    available: bool
    default: bool
    reason: str | None = Field(None, description="why the model cannot be used, when it cannot")


class ModelsResponse(BaseModel):
    """The models ``POST /api/v1/remove`` accepts."""

    default: str
    models: list[ModelInfo]
    reference_supported: bool = Field(description="whether a reference photo of the same person can be given")
    backend: str = Field(description="where the networks run: torch or onnxruntime")


class FaceInfo(BaseModel):
    """One detected face, in pixels of the upright (EXIF-rotated) photo."""

    box: tuple[float, float, float, float] = Field(description="x0, y0, x1, y1")
    score: float
    keypoints: list[tuple[float, float]] = Field(description="eyes, nose tip, mouth corners (image-left first)")


class DetectResponse(BaseModel):
    """Faces and the occlusion mask found in a photo."""

    width: int
    height: int
    faces: list[FaceInfo]
    occluded_fraction: float = Field(description="share of the photo's pixels in the mask")
    mask_png: str = Field(description="base64 PNG, same size as the photo, white (255) = occluded")


class StudyInfo(BaseModel):
    """The realism study this server holds (never which image is which)."""

    name: str
    tasks: list[Literal["rate", "pair"]]
    images: int
    pairs: int
    time_limits_ms: list[int | None]
    answers: int


class NextRequest(BaseModel):
    """Ask for the next trial of one participant."""

    participant: str = Field(pattern=PARTICIPANT_PATTERN, description="the participant's token from their link")
    task: Literal["rate", "pair"]


class Trial(BaseModel):
    """One image to rate, or two to compare, shown without saying which is real."""

    token: str
    task: Literal["rate", "pair"]
    images: list[str] = Field(description="URLs: one for rate, left and right for pair")
    time_limit_ms: int | None = Field(None, description="pair only: how long the two images are shown")


class NextResponse(BaseModel):
    """The next trial, or ``done`` when the participant has answered every item of the task."""

    done: bool
    trial: Trial | None = None
    answered: int
    total: int


class AnswerRequest(BaseModel):
    """A participant's answer to one trial served to them: a rating 1-10 (rate) or the side picked as real (pair)."""

    participant: str = Field(pattern=PARTICIPANT_PATTERN, description="the participant's token from their link")
    trial: str = Field(pattern=r"^[0-9a-f]{32}$")
    rating: int | None = Field(None, ge=1, le=10, description="rate: 10 = looks like an unedited photo")
    choice: Literal["left", "right"] | None = Field(None, description="pair: the image judged real")
    response_ms: int = Field(ge=0, le=3_600_000)


class AnswerResponse(BaseModel):
    """The answer is stored (committed) when this comes back."""

    saved: Literal[True] = True
    answered: int
