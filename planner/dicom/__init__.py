"""Reading DICOM: headers checked without pixels (:mod:`.header`, :mod:`.pixel_data`, :mod:`.j2k_codestream`),
decoding (:mod:`.pixels`, GDCM in a child process :mod:`.gdcm_worker`), importing files, folders and archives
(:mod:`.importer`), the study database (:mod:`.database`), series (:mod:`.loader`, :mod:`.series_index`), and
writing the disc SEG (:mod:`.seg`)."""
