"""A webhook receiver for the tests, verifying with the official Standard Webhooks library.

Usage: receiver.py SECRET_FILE LOG_FILE MODE FAIL_FIRST
MODE is "ok", "redirect" (answers 302 to the cloud metadata address) or "hang-first" (holds
the first request for 60 s, for a server killed mid-delivery). The first FAIL_FIRST requests
answer 500. Prints the port, then serves; each request is one JSON line in LOG_FILE.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

secret_file, log_file, mode, fail_first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lock = threading.Lock()
count = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        with lock:
            count += 1
            n = count
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            with open(secret_file) as f:
                payload = Webhook(f.read().strip()).verify(body, headers)
            verified, kind = True, payload.get("type")
        except (WebhookVerificationError, OSError, ValueError) as e:
            verified, kind = False, str(e)
        if mode == "hang-first" and n == 1:
            self.log(n, headers, verified, kind, body, "held")
            time.sleep(60)
            return
        if not verified:
            status = 400
        elif n <= fail_first:
            status = 500
        elif mode == "redirect":
            status = 302
        else:
            status = 204
        self.log(n, headers, verified, kind, body, status)
        self.send_response(status)
        if status == 302:
            self.send_header("location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("content-length", "0")
        self.end_headers()

    def log(self, n, headers, verified, kind, body, answered):
        line = {
            "n": n,
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "verified": verified,
            "type": kind,
            "body": body,
            "answered": answered,
        }
        with lock, open(log_file, "a") as f:
            f.write(json.dumps(line) + "\n")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
