"""Serve the repository to this computer only (127.0.0.1) for the web page examples/web/index.html.

    python examples/web/serve.py [--port 8000]      # then open http://127.0.0.1:8000/examples/web/

Every response carries the two headers that make the page cross-origin isolated (Cross-Origin-Opener-Policy:
same-origin, Cross-Origin-Embedder-Policy: require-corp): only then may onnxruntime-web run its WASM backend on
several threads (SharedArrayBuffer). Any static server that sends those headers works as well; without them the
page still works, on one thread.
"""
from __future__ import annotations

import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent.parent
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


class IsolatedHandler(SimpleHTTPRequestHandler):
    """Static files with the isolation headers, the JavaScript and WASM types, and no caching (a regenerated model
    file is picked up at the next load). `files` maps URL paths to files outside the served folder."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream"}

    def __init__(self, *args, files: dict[str, Path] | None = None, **kwargs) -> None:
        self.files = files or {}
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        route = path.split("?", 1)[0].split("#", 1)[0]
        return str(self.files[route]) if route in self.files else super().translate_path(path)

    def end_headers(self) -> None:
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


def server(port: int = 8000, root: Path = REPOSITORY, files: dict[str, Path] | None = None) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:port (0: any free port) for root, not yet serving (call serve_forever)."""
    handler = functools.partial(IsolatedHandler, directory=str(root), files=files)
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with server(args.port) as httpd:
        print(f"serving {REPOSITORY} on http://127.0.0.1:{httpd.server_port}/examples/web/ (Ctrl-C stops)")
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
