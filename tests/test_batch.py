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
