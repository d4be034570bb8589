"""The ``equipot`` command line: thin wrappers that parse, call the library, print and plot."""
