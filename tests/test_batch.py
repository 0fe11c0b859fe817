import threading

import numpy as np

from unmask.batch import remove_folder
from unmask.face import detect_faces
from unmask.io import list_images, load_image, save_image
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker


def test_loader_workers_run_after_the_parent_used_the_face_detector(astronaut, tmp_path):
    occluded, _ = occlude(astronaut, "surgical", np.random.default_rng(0), face=detect_faces(astronaut)[0])
    for index in range(2):
        save_image(tmp_path / "in" / f"photo_{index}.png", occluded)
    detect_faces(occluded)  # the parent now holds a MediaPipe graph, which a forked worker cannot use
    finished = {}

    def run() -> None:
        finished["counts"] = remove_folder(list_images([tmp_path / "in"]), tmp_path / "out", Unmasker("telea"),
                                           batch_size=1, workers=1, progress=False)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive(), "the folder run hung in its loader worker"
    written, failed, _ = finished["counts"]
    assert (written, failed) == (2, 0)
    assert load_image(tmp_path / "out" / "photo_0.png").shape == occluded.shape


def test_devices_run_the_same_folder_through_lightning(astronaut, tmp_path):
    hole = np.zeros(astronaut.shape[:2], np.uint8)
    hole[160:200, 200:260] = 255
    save_image(tmp_path / "in" / "photo.png", astronaut)
    save_image(tmp_path / "in" / "photo.mask.png", hole)
    inputs = list_images([tmp_path / "in" / "photo.png"])
    for out, devices in (("plain", None), ("lightning", 1)):
        written, failed, _ = remove_folder(inputs, tmp_path / out, Unmasker("telea"), tmp_path / "in",
                                           devices=devices, progress=False)
        assert (written, failed) == (1, 0)
    lightning, plain = (load_image(tmp_path / out / "photo.png") for out in ("lightning", "plain"))
    assert np.array_equal(lightning, plain)
