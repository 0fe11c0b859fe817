"""REST endpoints of the realism study; the page at /study calls them. Answers are committed before replying."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response

from unmask.server.schemas import AnswerRequest, AnswerResponse, ErrorResponse, NextRequest, NextResponse, StudyInfo
from unmask.study.store import StudyStore

IMAGE_URL = "/api/v1/study/images/{}"


def study_router(db: Path) -> APIRouter:
    """Routes for the study file ``db`` (opened per request, so a study created while serving is picked up)."""
    router = APIRouter(prefix="/api/v1/study", tags=["study"],
                       responses={status: {"model": ErrorResponse} for status in (404, 409, 422)})

    @router.get("", response_model=StudyInfo)
    def info() -> StudyInfo:
        """What the study holds: tasks, numbers of images, pairs and answers."""
        return StudyInfo(**StudyStore(db).info())

    @router.post("/next", response_model=NextResponse)
    def next_trial(request: NextRequest) -> NextResponse:
        """The participant's next image to rate or pair to compare; ``done`` when all are answered."""
        trial, answered, total = StudyStore(db).next_trial(request.participant, request.task)
        if trial is not None:
            trial["images"] = [IMAGE_URL.format(token) for token in trial["images"]]
        return NextResponse(done=trial is None, trial=trial, answered=answered, total=total)

    @router.get("/images/{token}", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
    def image(token: str) -> Response:
        """One study image, by its random token."""
        data, media_type = StudyStore(db).image(token)
        return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})

    @router.post("/answer", response_model=AnswerResponse)
    def answer(request: AnswerRequest) -> AnswerResponse:
        """Store one answer; it is on disk when the reply comes."""
        answered = StudyStore(db).answer(request.trial, request.rating, request.choice, request.response_ms)
        return AnswerResponse(answered=answered)

    return router
