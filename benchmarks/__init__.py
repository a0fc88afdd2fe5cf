"""python -m benchmarks: how fast the runtime is on this machine, against the floor the hardware sets.

See docs/PERFORMANCE.md for what is measured and the latest table (`python -m benchmarks --write-doc`)."""
