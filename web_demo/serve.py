"""Serve the web demo and an export: python web_demo/serve.py EXPORT_DIR [--host=H] [--port=P].

The page is web_demo/ itself (plain ES modules, LiteRT.js's wasm from
node_modules/, installed by `npm ci`); EXPORT_DIR (a `python -m export` output
with manifest.json) is served at /export/. Every response carries the
cross-origin isolation headers (COOP same-origin, COEP require-corp), which
browsers need before they give a page shared memory, so the page runs
LiteRT.js's threaded build. Standard library only.
"""

import argparse
import functools
import http.server
import os
import socket
import sys
import threading

DEMO = os.path.dirname(os.path.abspath(__file__))
EXPORT_PREFIX = "/export/"
CROSS_ORIGIN_ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin",
                          "Cross-Origin-Embedder-Policy": "require-corp"}


class DemoHandler(http.server.SimpleHTTPRequestHandler):
    """web_demo/ at /, the export directory at /export/; cross-origin isolated, no caching,
    no request log."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript",
                      ".wasm": "application/wasm", ".json": "application/json",
                      ".tflite": "application/octet-stream"}

    def __init__(self, *args, export_dir, **kwargs):
        self.export_dir = export_dir
        super().__init__(*args, directory=DEMO, **kwargs)

    def translate_path(self, path):
        route = path.split("?", 1)[0].split("#", 1)[0]
        if route.startswith(EXPORT_PREFIX):
            inner = super().translate_path("/" + route[len(EXPORT_PREFIX):])
            return os.path.join(self.export_dir, os.path.relpath(inner, DEMO))
        return super().translate_path(path)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        for name, value in CROSS_ORIGIN_ISOLATION.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format, *args):
        pass


def start(export_dir, host="127.0.0.1", port=0):
    """Serve in a daemon thread; returns the server (its URL: http://HOST:server.server_port/)."""
    handler = functools.partial(DemoHandler, export_dir=os.path.abspath(export_dir))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="web-demo").start()
    return server


def lan_addresses():
    """This machine's IPv4 addresses other than loopback, as its host name resolves them."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return []
    return sorted({info[4][0] for info in infos} - {"127.0.0.1", "127.0.1.1"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir", help="a `python -m export` output (holds manifest.json)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; 0.0.0.0 to open it from a phone on the "
                             "same network (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="default 8000")
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.export_dir, "manifest.json")):
        sys.exit(f"serve: error: no manifest.json in {args.export_dir!r}; export first with "
                 f"`python -m export --workdir=DIR` (or `make demo`)")
    if not os.path.isdir(os.path.join(DEMO, "node_modules", "@litertjs", "core")):
        sys.exit("serve: error: LiteRT.js is not installed; run `npm ci` in web_demo/ "
                 "(or `make web-demo`)")
    try:
        server = start(args.export_dir, args.host, args.port)
    except OSError as error:
        sys.exit(f"serve: error: cannot listen on {args.host}:{args.port} ({error.strerror}); "
                 f"pass another --port")
    port = server.server_port
    print(f"Serving the web demo with {args.export_dir} at http://127.0.0.1:{port}/", flush=True)
    if args.host == "0.0.0.0":
        for address in lan_addresses():
            print(f"On a phone on the same network: http://{address}:{port}/", flush=True)
        if not lan_addresses():
            print(f"On a phone on the same network: http://ADDRESS:{port}/ with this machine's "
                  f"address on that network (`hostname -I` lists them)", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
