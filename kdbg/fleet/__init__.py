"""Many vmcores: what each one records (:mod:`kdbg.fleet.kind`, :mod:`kdbg.fleet.signature`)
and one report per dump (:mod:`kdbg.fleet.report`)."""
