"""Training of the colorize network (PyTorch). See README.md, section Training."""
