"""What the views show, without Qt: multiplanar reformats (:mod:`.mpr`), window and level (:mod:`.display`),
ultrasound clips and their calibration (:mod:`.ultrasound`, :mod:`.us_calibration`, :mod:`.cine`) and
measurements (:mod:`.measurements`)."""
