import sys

from colorize_runtime.cli import main

sys.exit(main())
