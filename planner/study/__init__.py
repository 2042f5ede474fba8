"""A study as a whole: which series does what (:mod:`.roles`) and the headless session that owns its
analysis and plan inputs (:mod:`.session`), shared by the CLI, the workstation and the export."""
