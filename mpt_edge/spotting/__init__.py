"""Spotting as the field measures it: intervals (onset, apex, offset; micro- or macro-expression),
MEGC's evaluation of them (:mod:`mpt_edge.spotting.intervals`), the field's baseline
(:mod:`mpt_edge.spotting.baseline`) and the offline spotter over a whole video (:mod:`mpt_edge.spotting.offline`)."""
