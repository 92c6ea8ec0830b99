"""`tui-trainer serve` for real (textual-serve on a free port): the token guards the page and the
websocket alike, and a host other than this machine's own gets a warning. The browser check itself
(headless Chromium) is benchmarks/browser_check.py."""
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import CLI, cli_env

WS = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


@pytest.fixture
def served(home, tmp_path):
    pytest.importorskip("textual_serve")
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--data", "synthetic", "--runs",
                             str(tmp_path / "runs"), "--token", "s3cret"], env=cli_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline and proc.poll() is None, proc.stdout.read() if proc.poll() is not None else ""
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}", proc
    proc.terminate()
    proc.wait(10)


def test_the_token_guards_the_page_and_the_websocket(served):
    base, proc = served
    assert get(base + "/")[0] == 403 and get(base + "/?token=nope")[0] == 403
    assert get(base + "/ws?width=80&height=24", WS)[0] == 403
    code, headers, page = get(base + "/?token=s3cret")
    assert code == 200 and "data-session-websocket-url" in page
    cookie = headers["Set-Cookie"].split(";")[0]
    assert cookie == "tui_trainer_token=s3cret" and "HttpOnly" in headers["Set-Cookie"]
    # With the cookie the page set, the websocket handshake gets through: 101, switching protocols.
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        lines = ["GET /ws?width=80&height=24 HTTP/1.1", f"Host: {host}:{port}", f"Cookie: {cookie}",
                 *(f"{k}: {v}" for k, v in WS.items())]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        assert s.recv(200).split(b"\r\n")[0] == b"HTTP/1.1 101 Switching Protocols"
    assert get(base + "/static/js/textual.js")[0] == 200  # the page's own script needs no token


def served_briefly(home, tmp_path, *options) -> tuple[str, str]:
    """What `tui-trainer serve` prints in its first seconds (stdout, stderr)."""
    pytest.importorskip("textual_serve")
    proc = subprocess.Popen([*CLI, "serve", "--port", str(free_port()), *options, "--data", "synthetic",
                             "--runs", str(tmp_path / "runs")], env=cli_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    proc.terminate()
    return proc.communicate(timeout=10)


def test_another_host_than_this_machine_is_warned_about(home, tmp_path):
    out, err = served_briefly(home, tmp_path, "--host", "0.0.0.0")
    assert "WARNING: serving on 0.0.0.0" in err and "start, stop and delete runs" in err
    assert "/?token=" in out


def test_a_short_token_is_warned_about_and_a_busy_port_is_one_line_before_any_url(home, tmp_path):
    out, err = served_briefly(home, tmp_path, "--token", "a")
    assert "WARNING: a 1-character --token is easy to guess" in err and "/?token=a" in out
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([*CLI, "serve", "--port", str(port), "--data", "synthetic", "--runs",
                               str(tmp_path / "runs")], env=cli_env(home), capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and f"--port {port}" in lines[0], done.stderr
    assert "token" not in done.stdout
