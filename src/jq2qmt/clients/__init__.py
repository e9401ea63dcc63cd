"""Client files exported for JoinQuant and QMT, built from the package sources."""
