import csv

from PIL import Image

from unmask.data.sources import scan_source
from unmask.data.split import group_labels, split_of


def test_groups_join_items_sharing_any_key():
    labels = group_labels([{"a"}, {"b"}, {"b", "c"}, {"c", "d"}, {"e"}])
    assert labels[1] == labels[2] == labels[3]
    assert len({labels[0], labels[1], labels[4]}) == 3


def test_split_is_stable_and_near_70_15_15():
    splits = [split_of(f"group-{i}") for i in range(3000)]
    assert splits == [split_of(f"group-{i}") for i in range(3000)]
    shares = {name: splits.count(name) / len(splits) for name in ("train", "val", "test")}
    assert abs(shares["train"] - 0.7) < 0.03 and abs(shares["val"] - 0.15) < 0.03


def _write_index(folder, rows):
    with open(folder / "index.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_identities_and_twins_stay_on_one_side(tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir()
    rows = []
    for person in range(20):
        for shot in range(3):
            name = f"p{person}_{shot}.jpg"
            Image.new("RGB", (4, 4)).save(faces / name)
            rows.append({"file": name, "identity": f"person{person}", "source_path": f"raw/{name}"})
    _write_index(faces, rows)
    paired = tmp_path / "paired"
    for sub in ("with_mask", "without_mask"):
        (paired / sub).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (4, 4)).save(paired / sub / f"{i}.jpg")
    # pair i's unmasked photo is the same photo as person i's first shot
    _write_index(paired, [{"id": str(i), "without_mask_src": f"raw/p{i}_0.jpg"} for i in range(5)])
    images = scan_source(faces) + scan_source(paired)
    labels = group_labels([image.keys for image in images])
    split = {(image.source_set, image.path.name): split_of(label) for image, label in zip(images, labels, strict=True)}
    for person in range(20):
        assert len({split[("faces", f"p{person}_{shot}.jpg")] for shot in range(3)}) == 1
    for i in range(5):
        side = split[("faces", f"p{i}_0.jpg")]
        assert split[("paired/with_mask", f"{i}.jpg")] == side
        assert split[("paired/without_mask", f"{i}.jpg")] == side


def test_real_sets_split_disjoint_by_identity_and_twin(shared_data):
    images = [image for name in ("faces", "faces_hq", "paired_prajnasb") for image in scan_source(shared_data / name)]
    splits = [split_of(label) for label in group_labels([image.keys for image in images])]
    by_identity: dict[str, set[str]] = {}
    for image, split in zip(images, splits, strict=True):
        if image.identity:
            by_identity.setdefault(f"{image.source_set}:{image.identity}", set()).add(split)
    assert len(by_identity) > 700 and all(len(sides) == 1 for sides in by_identity.values())
    side = {(image.source_set, image.path.stem): split for image, split in zip(images, splits, strict=True)}
    pairs = [path.stem for path in (shared_data / "paired_prajnasb" / "with_mask").iterdir()]
    for stem in pairs:
        assert side[("paired_prajnasb/with_mask", stem)] == side[("paired_prajnasb/without_mask", stem)]
        assert side[("paired_prajnasb/without_mask", stem)] == side[("faces", f"prajnasb_{stem}")]
    assert {"train", "val", "test"} == set(splits)
