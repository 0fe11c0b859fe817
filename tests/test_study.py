import io
import math
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from unmask.cli import main
from unmask.errors import UnmaskError
from unmask.io import save_image
from unmask.provenance import edited_by, provenance_metadata
from unmask.server.app import create_app
from unmask.server.settings import Settings
from unmask.study.builder import TIME_LIMITS_MS, build_study
from unmask.study.report import format_report, mean_interval, pair_rows, rating_rows, wilson_interval
from unmask.study.store import UNINVITED, Answer, StudyError, StudyStore


@pytest.fixture()
def photos(tmp_path, astronaut):
    """Three real crops (JPEG) and their 'unmasked' copies written with unmask's provenance metadata."""
    real, fake = tmp_path / "real", tmp_path / "unmasked"
    for index, (y, x) in enumerate([(0, 0), (100, 150), (200, 50)]):
        crop = np.ascontiguousarray(astronaut[y:y + 256, x:x + 256])
        save_image(real / f"p{index}.jpg", crop)
        edited = crop.copy()
        edited[100:150, 100:150] = 128
        hole = np.zeros(crop.shape[:2], np.uint8)
        hole[100:150, 100:150] = 1
        save_image(fake / f"p{index}.png", edited, provenance_metadata("telea" if index < 2 else "ns", hole))
    return real, fake


def test_provenance_is_read_back(photos):
    real, fake = photos
    assert edited_by(fake / "p0.png") == "telea" and edited_by(fake / "p2.png") == "ns"
    assert edited_by(real / "p0.jpg") is None
    save_image(real / "tagged.jpg", np.zeros((8, 8, 3), np.uint8), provenance_metadata("ns", np.ones((8, 8))))
    assert edited_by(real / "tagged.jpg") == "ns"


def test_build_labels_by_metadata_and_pairs_by_name(photos, tmp_path):
    real, fake = photos
    counts = build_study(tmp_path / "s.sqlite", [real, fake], max_side=128)
    assert counts == {"real": 3, "telea": 2, "ns": 1, "pairs": 3}
    store = StudyStore(tmp_path / "s.sqlite")
    info = store.info()
    assert info["images"] == 6 and info["pairs"] == 3 and info["time_limits_ms"] == list(TIME_LIMITS_MS)
    data, media_type = store.image(store.next_trial(store.invite(1)[0], "rate")[0]["images"][0])
    assert media_type == "image/jpeg" and max(Image.open(io.BytesIO(data)).size) == 128
    assert b"unmask" not in data  # no metadata gives an unmasked image away
    with pytest.raises(UnmaskError, match="already exists"):
        build_study(tmp_path / "s.sqlite", [real])
    with pytest.raises(UnmaskError, match="needs real and unmasked"):
        build_study(tmp_path / "t.sqlite", [real])


def test_trials_and_answers(photos, tmp_path):
    real, fake = photos
    build_study(tmp_path / "s.sqlite", [real, fake], max_side=64)
    store = StudyStore(tmp_path / "s.sqlite")
    first, second = store.invite(2)
    seen = set()
    while True:
        trial, answered, total = store.next_trial(first, "rate")
        if trial is None:
            break
        assert trial["images"][0] not in seen and total == 6
        assert store.next_trial(first, "rate")[0] == trial  # asking again serves the same open trial
        seen.add(trial["images"][0])
        assert store.answer(first, trial["token"], 7, None, 1200) == answered + 1
        with pytest.raises(StudyError, match="already answered") as error:
            store.answer(first, trial["token"], 7, None, 1200)
        assert error.value.status == 409
    assert len(seen) == 6
    limits = []
    for _ in range(3):
        trial, _, _ = store.next_trial(second, "pair")
        assert len(trial["images"]) == 2 and trial["time_limit_ms"] in TIME_LIMITS_MS
        limits.append(trial["time_limit_ms"])
        with pytest.raises(StudyError, match="takes a choice"):
            store.answer(second, trial["token"], 5, None, 10)
        store.answer(second, trial["token"], None, "left", 300)
    assert store.next_trial(second, "pair")[0] is None
    with pytest.raises(StudyError, match="unknown trial") as error:
        store.answer(second, "0" * 32, 3, None, 10)
    assert error.value.status == 404
    answers = store.answers()
    assert len(answers) == 9 and {a.method for a in answers if a.task == "pair"} == {"telea", "ns"}
    assert all(a.chose_real is not None for a in answers if a.task == "pair")


def test_report_numbers():
    mean, low, high = mean_interval(np.array([8.0, 9.0, 10.0]))
    assert mean == 9 and high - mean == pytest.approx(4.302653 * 1 / math.sqrt(3), rel=1e-5)
    assert math.isnan(mean_interval(np.array([5.0]))[1])
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    answers = [Answer("p", "rate", "real", r, None, None, 900) for r in (9, 10, 10)]
    answers += [Answer("p", "rate", "telea", r, None, None, 900) for r in (2, 4, 3)]
    answers += [Answer("p", "pair", "telea", None, chose, 250, 300) for chose in (True, False, True, True)]
    answers += [Answer("p", "pair", "telea", None, True, None, 300)]
    ratings, pairs = rating_rows(answers), pair_rows(answers)
    assert [(r.method, r.n, r.mean) for r in ratings] == [("real", 3, pytest.approx(29 / 3)), ("telea", 3, 3.0)]
    assert [(p.time_limit_ms, p.n, p.fooled) for p in pairs] == [(250, 4, 0.25), (None, 1, 0.0)]
    text = format_report(ratings, pairs)
    assert "telea" in text and "3.00" in text and "250 ms" in text and "unlimited" in text


def test_cli_create_and_report(photos, tmp_path, capsys):
    real, fake = photos
    db = tmp_path / "cli.sqlite"
    assert main(["study", "create", str(real), str(fake), "--db", str(db), "--max-side", "64"]) == 0
    assert main(["study", "invite", "--db", str(db), "--count", "2", "--url", "http://study.example:8000/"]) == 0
    links = [line for line in capsys.readouterr().out.splitlines() if line.startswith("http")]
    assert len(links) == 2 and all(link.startswith("http://study.example:8000/study?p=") for link in links)
    store = StudyStore(db)
    for index, participant in enumerate(link.split("?p=")[1] for link in links):
        while (trial := store.next_trial(participant, "rate")[0]) is not None:
            store.answer(participant, trial["token"], 3 + index, None, 500)
        while (trial := store.next_trial(participant, "pair")[0]) is not None:
            store.answer(participant, trial["token"], None, "right", 500)
    assert main(["study", "report", "--db", str(db), "-o", str(tmp_path / "hist.png")]) == 0
    out = capsys.readouterr().out
    assert "Realism ratings" in out and "Which is real?" in out and "telea" in out
    assert "Answers counted: 18; refused: 0" in out
    assert Image.open(tmp_path / "hist.png").size[0] > 500
    assert main(["study", "report", "--db", str(tmp_path / "missing.sqlite")]) == 2


def test_study_api_never_says_which_is_real(photos, tmp_path):
    real, fake = photos
    build_study(tmp_path / "s.sqlite", [real, fake], max_side=64, tasks=["pair"])
    participant = StudyStore(tmp_path / "s.sqlite").invite(1)[0]
    with TestClient(create_app(Settings(study_db=tmp_path / "s.sqlite")), base_url="http://localhost") as client:
        info = client.get("/api/v1/study").json()
        assert info["tasks"] == ["pair"] and info["pairs"] == 3
        assert client.get("/study").status_code == 200
        body = client.post("/api/v1/study/next", json={"participant": participant, "task": "pair"}).json()
        assert set(body["trial"]) == {"token", "task", "images", "time_limit_ms"}
        for url in body["trial"]["images"]:
            image = client.get(url)
            assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        answer = {"participant": participant, "trial": body["trial"]["token"], "choice": "left", "response_ms": 800}
        assert client.post("/api/v1/study/answer", json=answer).json() == {"saved": True, "answered": 1}
        assert client.post("/api/v1/study/answer", json=answer).status_code == 409
        wrong_task = client.post("/api/v1/study/next", json={"participant": participant, "task": "rate"})
        assert wrong_task.status_code == 422 and "no 'rate' task" in wrong_task.json()["detail"]
        bad_id = client.post("/api/v1/study/next", json={"participant": "../etc", "task": "pair"})
        assert bad_id.status_code == 422 and "participant" in bad_id.json()["detail"]
        assert client.get("/api/v1/study/images/nope").status_code == 404
    with TestClient(create_app(Settings(study_db=tmp_path / "none.sqlite")), base_url="http://localhost") as client:
        missing = client.get("/api/v1/study")
        assert missing.status_code == 404 and "unmask study create" in missing.json()["detail"]
        assert str(tmp_path) not in missing.text and "none.sqlite" not in missing.text  # no server path


def test_no_answer_is_lost_when_the_server_is_killed(photos, tmp_path):
    real, fake = photos
    db = tmp_path / "s.sqlite"
    build_study(db, [real, fake], max_side=64, tasks=["rate"])
    participant = StudyStore(db).invite(1)[0]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "unmask.cli", "serve", "--port", str(port), "--study-db", str(db),
                               "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()
                time.sleep(0.2)
        for rating in (2, 5, 9):
            trial = httpx.post(f"{url}/api/v1/study/next", json={"participant": participant, "task": "rate"}).json()
            answer = {"participant": participant, "trial": trial["trial"]["token"], "rating": rating,
                      "response_ms": 100}
            assert httpx.post(f"{url}/api/v1/study/answer", json=answer).json()["saved"] is True
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
        server.stderr.close()
    assert sorted(a.rating for a in StudyStore(db).answers()) == [2, 5, 9]


def test_scripted_flooding_is_refused_and_left_out_of_the_report(photos, tmp_path, capsys):
    real, fake = photos
    db = tmp_path / "s.sqlite"
    build_study(db, [real, fake], max_side=64, tasks=["rate"])
    invited = StudyStore(db).invite(1)[0]
    app = create_app(Settings(study_db=db, study_ip_rate=600, study_participant_rate=60))  # bursts of 100 and 10
    bots = TestClient(app, base_url="http://localhost", client=("10.0.0.1", 5000))

    def flood(index: int) -> list[int]:  # a made-up participant id per script, every answer rated 10
        fake_id = {"participant": f"scripted-{index:04d}"}
        return [response.status_code for _ in range(30) for response in (
            bots.post("/api/v1/study/next", json={**fake_id, "task": "rate"}),
            bots.post("/api/v1/study/answer", json={**fake_id, "trial": "0" * 32, "rating": 10, "response_ms": 1}))]

    with ThreadPoolExecutor(4) as executor:
        statuses = [status for script in executor.map(flood, range(4)) for status in script]
    assert set(statuses) == {403, 429}  # never invited, then over the address's rate
    person = TestClient(app, base_url="http://localhost", client=("10.0.0.2", 5000))
    asked = [person.post("/api/v1/study/next", json={"participant": invited, "task": "rate"}).json()
             for _ in range(20)]
    assert len({body["trial"]["token"] for body in asked}) == 1  # asking again and again makes no new trials
    answer = {"participant": invited, "trial": asked[0]["trial"]["token"], "rating": 10, "response_ms": 5}
    replies = [person.post("/api/v1/study/answer", json=answer).status_code for _ in range(30)]
    assert replies[0] == 200 and set(replies[1:]) == {409, 429}  # one answer per trial, then the rate limit
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 1
    store = StudyStore(db)
    refused = statuses[1::2].count(403) + statuses[1::2].count(429) + len(replies) - 1
    assert len(store.answers()) == 1 and sum(store.rejections().values()) == refused
    assert main(["study", "report", "--db", str(db), "-o", str(tmp_path / "hist.png")]) == 0
    assert f"Answers counted: 1; refused: {refused}" in capsys.readouterr().out


def test_trials_expire_belong_to_their_participant_and_old_answers_do_not_count(photos, tmp_path):
    real, fake = photos
    db = tmp_path / "s.sqlite"
    build_study(db, [real, fake], max_side=64, tasks=["rate"])
    store = StudyStore(db, trial_ttl=0.2)
    first, second = store.invite(2)
    with pytest.raises(StudyError, match="link is not valid") as error:
        store.next_trial("made-up-participant", "rate")
    assert error.value.status == 403
    stale = store.next_trial(first, "rate")[0]
    time.sleep(0.3)
    with pytest.raises(StudyError, match="expired") as error:
        store.answer(first, stale["token"], 5, None, 100)
    assert error.value.status == 410
    fresh = store.next_trial(first, "rate")[0]
    assert fresh["token"] != stale["token"]
    with pytest.raises(StudyError, match="unknown trial"):
        store.answer(second, fresh["token"], 5, None, 100)  # served to someone else
    assert store.answer(first, fresh["token"], 5, None, 100) == 1
    with sqlite3.connect(db) as connection:  # the expired trial is gone; an answer stored without an invitation
        assert connection.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 1
        connection.execute("INSERT INTO answers (trial, participant, task, method, rating, response_ms, answered_at) "
                           "VALUES ('old', 'from-before-invitations', 'rate', 'telea', 10, 1, 0)")
    assert [answer.participant for answer in store.answers()] == [first]
    assert store.rejections() == {"this trial has expired; ask for the next one": 1,
                                  "unknown trial; ask for the next one": 1, UNINVITED: 1}
