"""The L5-S1 disc: the lumbar levels (:mod:`.levels`), the segmenter plugin contract (:mod:`.segmenters`), the
segmentation (:mod:`.segmentation`), the bulge classified by Lumbar Disc Nomenclature 2.0 (:mod:`.bulge`), the
editable disc model (:mod:`.model`), ``main.py analyze`` (:mod:`.analysis`) and the finding's one wording
(:mod:`.finding_text`)."""
