"""The procedure plan: its data and file format (:mod:`.model`), the undoable document (:mod:`.document`), saving
and crash recovery (:mod:`.store`), the plan being edited (:mod:`.session`), what a save keeps as evidence
(:mod:`.evidence`), the safety anatomy (:mod:`.anatomy`), trajectories and their checks (:mod:`.trajectory`),
suggested paths (:mod:`.suggest`), the ultrasound approach (:mod:`.us_approach`) and ``main.py plan``
(:mod:`.planning`)."""
