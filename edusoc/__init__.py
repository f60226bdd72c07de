"""The composition root: wires the packages into processes (`edusoc run`) and the command line."""
