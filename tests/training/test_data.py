"""The spine model's training targets (training/data.py): what each source's labels teach."""

from __future__ import annotations

import numpy as np
import pytest

from training.data import BODY, DISC, IGNORE, INNER_LABELS_VB1, L5, Case, targets


def _two_bodies(source: str) -> Case:
    """L5 (label 1) over L4 (label 2), boxes on a 1 mm grid [lateral, row (S->I), column (A->P)]."""
    labels = np.zeros((56, 90, 60), np.uint8)  # bodies wider and deeper than tall, as lumbar bodies are
    labels[8:48, 52:72, 15:50] = 1  # L5, lower
    labels[8:48, 20:42, 15:50] = 2  # L4, 10 mm above
    return Case(f"{source}-01", source, np.zeros(labels.shape, np.float32), labels)


@pytest.mark.parametrize("output", [L5, BODY, DISC])
def test_the_rim_outside_labels_drawn_inside_the_cortex_is_left_unsupervised(output):
    out = targets(_two_bodies("vb1"), INNER_LABELS_VB1)
    # in front of L5 (columns 13-14: two voxels outside its label) no output is taught anything
    assert (out[output][8:48, 55:66, 13:15] == IGNORE).all()
    # beyond the rim, in front of the bodies, L5 is still taught as not L5
    if output == L5:
        assert (out[L5][8:48, 55:66, 5:12] == 0).all()


@pytest.mark.parametrize("source, inner", [("vb2", INNER_LABELS_VB1), ("vb1", None)])
def test_other_sources_teach_the_voxels_just_outside_their_labels_as_background(source, inner):
    out = targets(_two_bodies(source), inner)
    assert (out[L5][8:48, 55:66, 13:15] == 0).all() and (out[BODY][8:48, 55:66, 13:15] == 0).all()
    # and the disc between the bodies is taught, up to the labels
    assert (out[DISC][8:48, 43:51, 20:45] == 1).all()


def test_labels_grown_out_to_the_cortex_teach_bodies_that_much_larger_and_discs_that_much_thinner():
    out = targets(_two_bodies("vb1"), outer_labels={"vb1": 2})
    # in front of L5, the two voxels outside its label are L5 and body; the third is neither
    assert (out[L5][8:48, 55:66, 13:15] == 1).all() and (out[BODY][8:48, 55:66, 13:15] == 1).all()
    assert (out[L5][8:48, 55:66, 12] == 0).all() and (out[BODY][8:48, 55:66, 12] == 0).all()
    # the 10 mm disc space (rows 42-51) loses two rows at each endplate: disc from row 44 to 49
    column = out[DISC][28, 40:54, 30]
    assert column.tolist() == [0] * 4 + [1] * 6 + [0] * 4
    # L4 grows too, and the bodies meet no one else's label: L5 stays L5 under L4's growth
    assert (out[L5][8:48, 42:44, 30] == 0).all() and (out[BODY][8:48, 42:44, 30] == 1).all()
    # another source's labels are taught as drawn
    plain = targets(_two_bodies("vb2"), outer_labels={"vb1": 2})
    assert (plain[BODY][8:48, 55:66, 13:15] == 0).all()
