from colorize_runtime.cli import run

run()
