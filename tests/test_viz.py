import numpy as np

from unmask.viz import image_grid


def test_long_column_labels_stay_inside_their_cell():
    cell, gap = 64, 4
    tiles = [[np.zeros((cell, cell, 3), np.uint8)] * 2]
    grid = image_grid(tiles, ["a_very_long_run_label@12345", ""], cell=cell, gap=gap)
    header = grid[:22]
    assert (header[:, gap:gap + cell] < 128).any()  # the label is drawn
    assert (header[:, gap + cell:] == 255).all()  # and nothing spills into the next column's header
