"""Data sets: the built-in synthetic micro-expression set (and, in issue #4, the real readers)."""
