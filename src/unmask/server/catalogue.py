"""What this installation can run, asked of a worker once and kept: the models the pipeline accepts and whether
it takes a reference photo. The serving process itself never imports the pipeline.
"""

from __future__ import annotations

from fastapi import HTTPException

from unmask.errors import quoted
from unmask.server.pool import WorkerPool
from unmask.server.schemas import ModelsResponse


class Catalogue:
    """The registry's models as the worker processes see them under ``backend`` (``jobs.describe``), fetched once."""

    def __init__(self, pool: WorkerPool, backend: str = "torch") -> None:
        self.pool = pool
        self.backend = backend
        self._answer: ModelsResponse | None = None

    async def get(self) -> ModelsResponse:
        """Every registered model, whether it can run here, the default, and reference support."""
        if self._answer is None:
            self._answer = ModelsResponse(**await self.pool.run("describe", self.backend))
        return self._answer

    async def resolve(self, name: str | None) -> str:
        """The model a request asked for (the default when none); 400 when unknown or unable to run here."""
        answer = await self.get()
        models = {info.name: info for info in answer.models}
        if not name:
            return answer.default
        if name not in models:
            raise HTTPException(400, f"unknown model {quoted(name)}; available: "
                                     f"{', '.join(n for n, info in models.items() if info.available)}")
        if not models[name].available:
            raise HTTPException(400, models[name].reason or f"model {name!r} cannot be used")
        return name
