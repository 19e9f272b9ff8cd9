"""One module per `mpt-edge` command (DESIGN §2): each parses its options and calls one stage,
importing that stage lazily so the device install never loads torch. :mod:`app.cli` registers them."""
