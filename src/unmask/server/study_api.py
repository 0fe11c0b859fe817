"""REST endpoints of the realism study; the page at /study calls them. Answers are committed before replying.

Only invited participants (``unmask study invite``) get trials and may answer; requests per client address and
answers per participant are rate-limited (429 with Retry-After), and refused answers are counted in the study
file for the report. No reply names the study file or any other server path.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from unmask.server.ratelimit import RateLimiter
from unmask.server.schemas import AnswerRequest, AnswerResponse, ErrorResponse, NextRequest, NextResponse, StudyInfo
from unmask.server.settings import Settings
from unmask.study.store import StudyError, StudyStore

IMAGE_URL = "/api/v1/study/images/{}"
NO_STUDY = "no study is served here; its owner makes one with `unmask study create`"
TOO_FAST = "answers are arriving faster than a person gives them"


def study_router(settings: Settings) -> APIRouter:
    """Routes for the study file ``settings.study_db`` (opened per request, so one created while serving is used)."""
    router = APIRouter(prefix="/api/v1/study", tags=["study"],
                       responses={status: {"model": ErrorResponse} for status in (403, 404, 409, 410, 422, 429)})
    per_address = RateLimiter(settings.study_ip_rate)
    per_participant = RateLimiter(settings.study_participant_rate)

    def store() -> StudyStore:
        try:
            return StudyStore(settings.study_db, settings.study_trial_ttl)
        except StudyError as error:  # its message names the file: not for clients
            raise StudyError(NO_STUDY, error.status) from None

    def limit(limiter: RateLimiter, key: str, study: StudyStore | None = None) -> None:
        if wait := limiter.take(key):
            if study is not None:
                study.reject(TOO_FAST)
            raise HTTPException(429, f"too many requests; retry in {wait} s", {"Retry-After": str(wait)})

    @router.get("", response_model=StudyInfo)
    def info() -> StudyInfo:
        """What the study holds: tasks, numbers of images, pairs and answers."""
        return StudyInfo(**store().info())

    @router.post("/next", response_model=NextResponse)
    def next_trial(request: NextRequest, http: Request) -> NextResponse:
        """The participant's next image to rate or pair to compare; ``done`` when all are answered."""
        limit(per_address, http.client.host if http.client else "")
        trial, answered, total = store().next_trial(request.participant, request.task)
        if trial is not None:
            trial["images"] = [IMAGE_URL.format(token) for token in trial["images"]]
        return NextResponse(done=trial is None, trial=trial, answered=answered, total=total)

    @router.get("/images/{token}", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
    def image(token: str) -> Response:
        """One study image, by its random token."""
        data, media_type = store().image(token)
        return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})

    @router.post("/answer", response_model=AnswerResponse)
    def answer(request: AnswerRequest, http: Request) -> AnswerResponse:
        """Store one answer to a trial served to this participant; it is on disk when the reply comes."""
        study = store()
        limit(per_address, http.client.host if http.client else "", study)
        limit(per_participant, request.participant, study)
        answered = study.answer(request.participant, request.trial, request.rating, request.choice,
                                request.response_ms)
        return AnswerResponse(answered=answered)

    return router
