"""The realism study's SQLite file: images, pairs, invited participants, served trials and answers, each answer
committed at once.

One file holds one study. WAL journaling with ``synchronous=FULL`` means an answer acknowledged to the page is
on disk: killing the server loses none. Which image is real lives only here, never in what the page gets.

Only invited participants (``invite``: one secret link each) get trials, a participant has at most one open
trial per task, and an answer is stored only for an open, unexpired trial served to that participant, once per
trial; every refused answer is counted by reason (``rejections``) so the report can say how many there were.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from unmask.errors import UnmaskError

TASKS = ("rate", "pair")
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images (id INTEGER PRIMARY KEY, token TEXT UNIQUE NOT NULL, method TEXT NOT NULL,
                     source TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
                     media_type TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE pairs (id INTEGER PRIMARY KEY, real_id INTEGER NOT NULL REFERENCES images(id),
                    fake_id INTEGER NOT NULL REFERENCES images(id));
CREATE TABLE trials (token TEXT PRIMARY KEY, participant TEXT NOT NULL, task TEXT NOT NULL,
                     image_id INTEGER REFERENCES images(id), pair_id INTEGER REFERENCES pairs(id),
                     real_side TEXT, time_limit_ms INTEGER, served_at REAL NOT NULL);
CREATE TABLE answers (id INTEGER PRIMARY KEY, trial TEXT UNIQUE NOT NULL REFERENCES trials(token),
                      participant TEXT NOT NULL, task TEXT NOT NULL, method TEXT NOT NULL,
                      image_id INTEGER, pair_id INTEGER, rating INTEGER, chose_real INTEGER,
                      time_limit_ms INTEGER, response_ms INTEGER NOT NULL, answered_at REAL NOT NULL);
"""
# Added after the first studies were made; created in older files when they are opened.
INVITATIONS = """
CREATE TABLE IF NOT EXISTS participants (token TEXT PRIMARY KEY, invited_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rejections (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""
UNINVITED = "stored without an invitation (before invitations existed)"
TRIAL_TTL = 1800.0  # seconds a served trial waits for its answer


class StudyError(UnmaskError):
    """A study request that cannot be served; ``status`` is the HTTP status the server answers with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Answer:
    """One stored answer: a rating 1-10 of one image, or whether the real image of a pair was picked."""

    participant: str
    task: str
    method: str
    rating: int | None
    chose_real: bool | None
    time_limit_ms: int | None
    response_ms: int


class StudyStore:
    """Access to one study file; every method opens its own connection, so it is safe from any thread."""

    def __init__(self, path: str | Path, trial_ttl: float = TRIAL_TTL) -> None:
        self.path = Path(path)
        self.trial_ttl = trial_ttl
        if not self.path.is_file():
            raise StudyError(f"{self.path}: no study here; create one with `unmask study create`", 404)
        with self._connect() as db:
            try:
                db.execute("SELECT value FROM meta WHERE key = 'name'").fetchone()
                db.executescript(INVITATIONS)
            except sqlite3.DatabaseError as error:
                raise StudyError(f"{self.path}: not a study file ({error})", 404) from None

    @classmethod
    def create(cls, path: str | Path, name: str, tasks: list[str], time_limits_ms: list[int | None]) -> StudyStore:
        """Make a new, empty study file at ``path`` (refused when the file exists)."""
        path = Path(path)
        if path.exists():
            raise StudyError(f"{path}: already exists; choose another --db or remove it first")
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA + INVITATIONS)
            limits = ",".join("none" if limit is None else str(limit) for limit in time_limits_ms)
            db.executemany("INSERT INTO meta VALUES (?, ?)",
                           [("name", name), ("tasks", ",".join(tasks)), ("time_limits_ms", limits),
                            ("created", time.strftime("%Y-%m-%dT%H:%M:%S"))])
        db.close()
        return cls(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        finally:
            db.close()

    def _meta(self, db: sqlite3.Connection) -> dict[str, str]:
        return dict(db.execute("SELECT key, value FROM meta"))

    def _time_limits(self, db: sqlite3.Connection) -> list[int | None]:
        """The pair task's display times in ms; None = unlimited."""
        return [None if item == "none" else int(item) for item in self._meta(db)["time_limits_ms"].split(",")]

    def add_image(self, method: str, source: str, data: bytes, width: int, height: int,
                  media_type: str = "image/jpeg") -> int:
        """Store one encoded image labelled ``method`` ('real' or the model that made it); returns its id."""
        with self._connect() as db:
            cursor = db.execute("INSERT INTO images (token, method, source, width, height, media_type, data) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                (secrets.token_hex(16), method, source, width, height, media_type, data))
            return int(cursor.lastrowid)

    def add_pair(self, real_id: int, fake_id: int) -> None:
        """Pair a real image with an unmasked one for the which-is-real task."""
        with self._connect() as db:
            db.execute("INSERT INTO pairs (real_id, fake_id) VALUES (?, ?)", (real_id, fake_id))

    def info(self) -> dict:
        """Name, tasks, counts and time limits, shaped as ``schemas.StudyInfo``."""
        with self._connect() as db:
            meta, limits = self._meta(db), self._time_limits(db)
            count = {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                     for table in ("images", "pairs", "answers")}
        return {"name": meta["name"], "tasks": meta["tasks"].split(","), "images": count["images"],
                "pairs": count["pairs"], "time_limits_ms": limits, "answers": count["answers"]}

    def _progress(self, db: sqlite3.Connection, participant: str, task: str) -> tuple[int, int]:
        answered = db.execute("SELECT COUNT(*) FROM answers WHERE participant = ? AND task = ?",
                              (participant, task)).fetchone()[0]
        total = db.execute(f"SELECT COUNT(*) FROM {'images' if task == 'rate' else 'pairs'}").fetchone()[0]
        return answered, total

    def invite(self, count: int) -> list[str]:
        """Make ``count`` new participant tokens (each the secret of one participant's link) and return them."""
        tokens = [secrets.token_urlsafe(16) for _ in range(count)]
        with self._connect() as db:
            db.executemany("INSERT INTO participants VALUES (?, ?)", [(token, time.time()) for token in tokens])
        return tokens

    def _check_invited(self, db: sqlite3.Connection, participant: str) -> None:
        if db.execute("SELECT 1 FROM participants WHERE token = ?", (participant,)).fetchone() is None:
            raise StudyError("this study link is not valid; ask the study's owner for yours", 403)

    def next_trial(self, participant: str, task: str) -> tuple[dict | None, int, int]:
        """Serve the participant's next item of ``task`` (least-answered first, random among equals).

        A participant's open trial of the task is served again until it is answered or expires, so asking
        repeatedly adds nothing. Returns the trial (token, task, image tokens in display order, time limit) or None
        when every item is answered, and the participant's answered and total counts.
        """
        with self._connect() as db:
            self._check_invited(db, participant)
            if task not in self._meta(db)["tasks"].split(","):
                raise StudyError(f"this study has no {task!r} task")
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM trials WHERE served_at < ? AND token NOT IN (SELECT trial FROM answers)",
                           (time.time() - self.trial_ttl,))
                trial = self._open_trial(db, participant, task)
                if trial is None:
                    trial = self._rate_trial(db, participant) if task == "rate" else self._pair_trial(db, participant)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            answered, total = self._progress(db, participant, task)
        return trial, answered, total

    def _open_trial(self, db: sqlite3.Connection, participant: str, task: str) -> dict | None:
        """The participant's unanswered trial of ``task`` served within the lifetime, as served, or None."""
        row = db.execute(
            "SELECT trials.token, rated.token, real.token, fake.token, trials.real_side, trials.time_limit_ms "
            "FROM trials LEFT JOIN images rated ON rated.id = trials.image_id "
            "LEFT JOIN pairs ON pairs.id = trials.pair_id LEFT JOIN images real ON real.id = pairs.real_id "
            "LEFT JOIN images fake ON fake.id = pairs.fake_id "
            "WHERE trials.participant = ? AND trials.task = ? AND trials.token NOT IN (SELECT trial FROM answers) "
            "ORDER BY trials.served_at DESC LIMIT 1", (participant, task)).fetchone()
        if row is None:
            return None
        token, rated, real, fake, real_side, limit = row
        images = [rated] if task == "rate" else ([real, fake] if real_side == "left" else [fake, real])
        return {"token": token, "task": task, "images": images, "time_limit_ms": limit}

    def _rate_trial(self, db: sqlite3.Connection, participant: str) -> dict | None:
        row = db.execute(
            "SELECT id, token FROM images WHERE id NOT IN "
            "(SELECT image_id FROM answers WHERE participant = ? AND task = 'rate') "
            "ORDER BY (SELECT COUNT(*) FROM answers WHERE answers.image_id = images.id AND task = 'rate'), random() "
            "LIMIT 1", (participant,)).fetchone()
        if row is None:
            return None
        token = secrets.token_hex(16)
        db.execute("INSERT INTO trials (token, participant, task, image_id, served_at) VALUES (?, ?, 'rate', ?, ?)",
                   (token, participant, row[0], time.time()))
        return {"token": token, "task": "rate", "images": [row[1]], "time_limit_ms": None}

    def _pair_trial(self, db: sqlite3.Connection, participant: str) -> dict | None:
        row = db.execute(
            "SELECT pairs.id, real.token, fake.token FROM pairs JOIN images real ON real.id = pairs.real_id "
            "JOIN images fake ON fake.id = pairs.fake_id WHERE pairs.id NOT IN "
            "(SELECT pair_id FROM answers WHERE participant = ? AND task = 'pair') "
            "ORDER BY (SELECT COUNT(*) FROM answers WHERE answers.pair_id = pairs.id), random() LIMIT 1",
            (participant,)).fetchone()
        if row is None:
            return None
        pair_id, real_token, fake_token = row
        limits = self._time_limits(db)
        used = dict(db.execute("SELECT time_limit_ms, COUNT(*) FROM answers WHERE pair_id = ? "
                               "GROUP BY time_limit_ms", (pair_id,)).fetchall())
        fewest = min(used.get(limit, 0) for limit in limits)
        limit = secrets.choice([limit for limit in limits if used.get(limit, 0) == fewest])
        real_side = secrets.choice(["left", "right"])
        token = secrets.token_hex(16)
        db.execute("INSERT INTO trials (token, participant, task, pair_id, real_side, time_limit_ms, served_at) "
                   "VALUES (?, ?, 'pair', ?, ?, ?, ?)", (token, participant, pair_id, real_side, limit, time.time()))
        images = [real_token, fake_token] if real_side == "left" else [fake_token, real_token]
        return {"token": token, "task": "pair", "images": images, "time_limit_ms": limit}

    def image(self, token: str) -> tuple[bytes, str]:
        """The encoded bytes and media type of the image with this random token."""
        with self._connect() as db:
            row = db.execute("SELECT data, media_type FROM images WHERE token = ?", (token,)).fetchone()
        if row is None:
            raise StudyError("no such study image", 404)
        return bytes(row[0]), str(row[1])

    def answer(self, participant: str, trial: str, rating: int | None, choice: str | None,
               response_ms: int) -> int:
        """Store the answer to a trial served to ``participant`` (committed before returning); returns their count.

        Refused, and counted in ``rejections`` by reason: a participant not invited, a trial unknown or served to
        someone else, expired, already answered, or an answer of the wrong kind.
        """
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                task = self._store_answer(db, participant, trial, rating, choice, response_ms)
                db.execute("COMMIT")
            except StudyError as error:
                db.execute("ROLLBACK")
                self._count_rejection(db, str(error))
                raise
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return self._progress(db, participant, task)[0]

    def _store_answer(self, db: sqlite3.Connection, participant: str, trial: str, rating: int | None,
                      choice: str | None, response_ms: int) -> str:
        self._check_invited(db, participant)
        row = db.execute(
            "SELECT trials.task, trials.image_id, trials.pair_id, trials.real_side, trials.time_limit_ms, "
            "trials.served_at, COALESCE(rated.method, fake.method), answers.id FROM trials "
            "LEFT JOIN images rated ON rated.id = trials.image_id LEFT JOIN pairs ON pairs.id = trials.pair_id "
            "LEFT JOIN images fake ON fake.id = pairs.fake_id LEFT JOIN answers ON answers.trial = trials.token "
            "WHERE trials.token = ? AND trials.participant = ?", (trial, participant)).fetchone()
        if row is None:
            raise StudyError("unknown trial; ask for the next one", 404)
        task, image_id, pair_id, real_side, limit, served_at, method, answered = row
        if answered is not None:
            raise StudyError("this trial is already answered", 409)
        if time.time() - served_at > self.trial_ttl:
            raise StudyError("this trial has expired; ask for the next one", 410)
        if task == "rate" and (rating is None or choice is not None):
            raise StudyError("a rating trial takes a rating from 1 to 10 and no choice")
        if task == "pair" and (choice is None or rating is not None):
            raise StudyError("a pair trial takes a choice, 'left' or 'right', and no rating")
        chose_real = None if choice is None else int(choice == real_side)
        db.execute("INSERT INTO answers (trial, participant, task, method, image_id, pair_id, rating, chose_real, "
                   "time_limit_ms, response_ms, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (trial, participant, task, method, image_id, pair_id, rating, chose_real, limit, response_ms,
                    time.time()))
        return task

    def _count_rejection(self, db: sqlite3.Connection, reason: str) -> None:
        db.execute("INSERT INTO rejections VALUES (?, 1) ON CONFLICT(reason) DO UPDATE SET count = count + 1",
                   (reason,))

    def reject(self, reason: str) -> None:
        """Count one answer refused before it reached the store (e.g. over a rate limit) under ``reason``."""
        with self._connect() as db:
            self._count_rejection(db, reason)

    def rejections(self) -> dict[str, int]:
        """How many answers were refused, by reason; answers stored by uninvited participants count here too."""
        with self._connect() as db:
            counts = dict(db.execute("SELECT reason, count FROM rejections ORDER BY reason"))
            uninvited = db.execute("SELECT COUNT(*) FROM answers WHERE participant NOT IN "
                                   "(SELECT token FROM participants)").fetchone()[0]
        return {**counts, UNINVITED: uninvited} if uninvited else counts

    def answers(self) -> list[Answer]:
        """Every valid stored answer (from an invited participant), oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT participant, task, method, rating, chose_real, time_limit_ms, response_ms "
                              "FROM answers WHERE participant IN (SELECT token FROM participants) "
                              "ORDER BY id").fetchall()
        return [Answer(p, t, m, r, None if c is None else bool(c), limit, ms) for p, t, m, r, c, limit, ms in rows]
