"""JSON health endpoints on loopback: any GET path answers 200 with a health body.

Usage: python3 json_http.py PORT:DELAY_MS ... (e.g. 18091:50 18092:0); exits by itself after
15 minutes. Threading servers, so concurrent requests are answered concurrently.
"""
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b'{"status":"healthy","checks":{"database":{"status":"healthy"}},"items":[1,2,3]}'


def handler(delay):
    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args):
            pass

    return Health


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: 50 connections at once must not wait for a SYN retry


for spec in sys.argv[1:]:
    port, delay_ms = map(int, spec.split(":"))
    server = Server(("127.0.0.1", port), handler(delay_ms / 1000))
    threading.Thread(target=server.serve_forever, daemon=True).start()
time.sleep(15 * 60)
