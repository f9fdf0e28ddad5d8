"""The socket layer: a threaded HTTP/1.1 server that hands parsed requests to the dispatcher.

Each response goes out in one ``send`` with ``TCP_NODELAY`` set: a header write followed by a
body write would meet Nagle and delayed ACK and add ~40 ms per call on loopback, and every
benchmark against the emulator would then measure the emulator.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from . import admin, batch, oauth_pages
from .auth import TokenError, injected_token_error
from .backend import Emulator, EmulatorConfig
from .dispatch import Dispatcher, Request, Response, break_answer, json_response
from .faults import GARBLED_BODY, TOKEN_AFTER_RUN, grant_name, truncated
from .push_keys import CERTS_PATHS


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gmail-emulator"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request.from_target(self.command, self.path, headers, body)
        self.server.emulator.stats.http_request()
        response = self.server.route(request)
        if response.delay_s and self.server.stopping.wait(response.delay_s):
            self.close_connection = True  # stalled until the server stopped: just hang up
            return
        if response.reset:
            self._reset()
            return
        self._write(response)

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        try:
            return self.rfile.read(int(length)) if length else b""
        except ValueError:
            self._write(json_response(400, {"error": "bad Content-Length"}))
            return None

    def _write(self, response: Response) -> None:
        body = response.body
        if response.mangle == "truncated_json":
            body = truncated(body)  # and a Content-Length that matches: only the JSON is bad
        elif response.mangle == "garbled_batch":
            body = GARBLED_BODY
        phrase = HTTPStatus(response.status).phrase
        lines = [f"HTTP/1.1 {response.status} {phrase}"]
        headers = {"Content-Length": str(len(body))}
        headers.update(response.headers)
        headers.setdefault("Date", self.date_time_string())
        headers.setdefault("Server", "ESF")
        headers.setdefault("Vary", "Origin, X-Origin, Referer")
        for name, value in headers.items():
            lines.append(f"{name}: {value}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if response.mangle == "close_mid_body":
            # The full Content-Length was promised; send half, then close (FIN, not RST).
            self.wfile.write(head + truncated(body) if body else truncated(head))
            self.close_connection = True
            return
        self.wfile.write(head + body)

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0): what a client sees as 'connection reset by peer'."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address, emulator: Emulator, verbose: bool = False):
        super().__init__(address, _Handler)
        self.emulator = emulator
        self.dispatcher = Dispatcher(emulator)
        self.verbose = verbose
        self.stopping = threading.Event()  # wakes stalled answers when the server stops

    def handle_error(self, request, client_address) -> None:
        """A client hanging up mid-request (killed tap, reset) is normal, not a server bug."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def route(self, request: Request) -> Response:
        path = request.path
        if path == "/token" and request.method == "POST":
            return self._token(request)
        if path == "/o/oauth2/auth":
            return oauth_pages.authorize(self.emulator, request)
        if path.startswith("/_emulator/"):
            return admin.handle(self.emulator, request)
        if path in CERTS_PATHS and request.method == "GET":
            certs = self.emulator.push.signer.certs(CERTS_PATHS[path])
            return json_response(200, certs, {"Cache-Control": "public, max-age=300"})
        if path in batch.BATCH_PATHS and request.method == "POST":
            return batch.handle(self.dispatcher, request, self.emulator.config.max_batch_parts)
        return self.dispatcher.handle(request)

    def _token(self, request: Request) -> Response:
        response = self._token_answer(request)
        self.emulator.stats.token_answer("reset" if response.reset else response.status)
        return response

    def _token_answer(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            form.setdefault("client_id", client_id)
            form.setdefault("client_secret", secret)
        emulator = self.emulator
        grant = grant_name(form.get("grant_type", ""))
        fault = emulator.token_faults.pick(grant)
        if fault is not None and fault.kind not in TOKEN_AFTER_RUN:
            emulator.stats.fault("token", fault.kind)
            if fault.kind == "reset":
                return Response(0, reset=True)
            if fault.kind == "html_502":
                return Response(502, GOOGLE_502_PAGE, {"Content-Type": "text/html; charset=UTF-8"})
            return _token_error(injected_token_error(fault.kind, grant))
        host = request.headers.get("host") or f"127.0.0.1:{self.server_address[1]}"
        try:
            payload = emulator.auth.token_endpoint(form, f"http://{host}/token")
        except TokenError as error:
            return _token_error(error)
        emulator.stats.token(form.get("grant_type", ""))
        response = json_response(200, payload, {"Cache-Control": "no-store"})
        if fault is not None:  # stall or truncated_json: the token was issued, the answer spoilt
            emulator.stats.fault("token", fault.kind)
            break_answer(response, fault)
        return response


def _token_error(error: TokenError) -> Response:
    headers = {"Content-Type": "application/json; charset=utf-8", **error.headers}
    return Response(error.http_status, json.dumps(error.body()).encode(), headers)


# What Google's front end answers when the service behind it fails: HTML, not JSON.
GOOGLE_502_PAGE = (
    b"<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
    b"  <title>Error 502 (Server Error)!!1</title>\n"
    b"  <p><b>502.</b> <ins>That\xe2\x80\x99s an error.</ins>\n"
    b"  <p>The server encountered a temporary error and could not complete your request."
    b"<p>Please try again in 30 seconds.  <ins>That\xe2\x80\x99s all we know.</ins>\n"
)


class EmulatorServer:
    """A running emulator: ``url`` for API calls, ``token_url`` for OAuth."""

    def __init__(
        self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
    ):
        self.emulator = emulator
        self._server = _Server((host, port), emulator, verbose)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self.emulator.push.close()
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()


def start_emulator(config: EmulatorConfig | None = None, port: int = 0) -> EmulatorServer:
    """Build, seed and start an emulator in a background thread (tests and embedding)."""
    emulator = Emulator(config or EmulatorConfig())
    emulator.seed()
    return EmulatorServer(emulator, port=port).start()
