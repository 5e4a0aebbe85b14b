"""Ctrl-C during a load: KeyboardInterrupt, promptly, and no partial cache entry."""

import _thread
import http.server
import os
import threading
import time

import pytest

import nasdaq_data

BODY_SIZE = 8 << 20


class SlowObject(http.server.BaseHTTPRequestHandler):
    """Stands in for an S3 endpoint: GET /market/NASDAQ.csv trickles its body."""

    def do_GET(self):  # noqa: N802 - the http.server API
        header = b"Date,Ticker,Open,High,Low,Close\n"
        self.send_response(200)
        self.send_header("Content-Length", str(BODY_SIZE))
        self.send_header("ETag", '"slow-1"')
        self.send_header("Last-Modified", "Tue, 01 Dec 2026 00:00:00 GMT")
        self.end_headers()
        try:
            self.wfile.write(header)
            sent = len(header)
            row = b"2024-01-02,AAPL,1,2,0.5,1.5\n"
            while sent < BODY_SIZE and not self.server.stopping:
                chunk = row * 64
                self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up before the body ended: the load was cancelled.
            self.server.cut_at.append(sent)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowObject)
    server.stopping = False
    server.cut_at = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stopping = True
    server.shutdown()


def test_keyboard_interrupt_stops_a_download_and_leaves_no_partial_entry(sandbox, slow_endpoint):
    endpoint = f"http://127.0.0.1:{slow_endpoint.server_port}"
    cache = sandbox / "cache"
    seen_partial = []

    def interrupt_once_downloading():
        # Interrupt only once the download is writing its temporary entry,
        # so the test shows that entry is removed, not that it never existed.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not seen_partial:
            if cache.exists() and any(p.name.endswith(".partial") for p in cache.rglob("*")):
                seen_partial.append(True)
                time.sleep(0.3)
                break
            time.sleep(0.02)
        _thread.interrupt_main()

    timer = threading.Thread(target=interrupt_once_downloading, daemon=True)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        nasdaq_data.load(
            "s3://market/NASDAQ.csv",
            fallback=False,
            aws_endpoint_url=endpoint,
            aws_allow_http=True,
            nasdaq_no_sign_request=True,
            nasdaq_cache_dir=str(cache),
            nasdaq_timeout_secs=120,
        )
    timer.join()
    assert seen_partial, "the download never started"
    # The cancelled load closed its connection: the server's next write fails.
    for _ in range(200):
        if slow_endpoint.cut_at:
            break
        time.sleep(0.05)
    assert slow_endpoint.cut_at and slow_endpoint.cut_at[0] < BODY_SIZE, slow_endpoint.cut_at
    left = [str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert not [p for p in left if p.endswith(".partial")], left
    assert not [p for p in left if p.endswith(".json")], left
