"""The trained model shipped inside colorize_runtime (installed as colorize_runtime.models)."""
