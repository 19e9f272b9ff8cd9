"""Streaming runtime: frame sources, onset/apex spotting, and the pipeline that feeds the engine."""
