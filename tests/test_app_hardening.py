"""The what-if page on hostile requests (issue 16, class 9): short 4xx answers, nothing simulated, no hang.

The server runs in a thread with a short socket timeout; no request here reaches a simulation (the
scenario's ``run`` is replaced by one that fails the test), except where a test says so.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from conftest import SMALL_OVERRIDES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from channelsim import app as app_mod
from channelsim.app import (
    MAX_BODY_BYTES,
    MAX_ERROR_CHARS,
    RequestError,
    levers_for,
    make_server,
    overrides_for,
    parse_run_request,
)
from sim.errors import ScenarioError

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
BASE = sim.Scenario().with_overrides(SMALL_OVERRIDES)
LEVERS = levers_for(BASE)


@pytest.fixture(scope="module")
def server():
    srv = make_server(BASE, port=0, seed=1, replications=1, socket_timeout=1.0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def no_simulation(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a simulation started")

    monkeypatch.setattr(app_mod, "run_frames", boom)


def raw(server, request: bytes, *, read_timeout: float = 10.0) -> tuple[int | None, bytes, float]:
    """Send ``request`` as is; return the status (None when the server closed without answering), body, seconds."""
    port = server.server_address[1]
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(request)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if
                          line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    seconds = time.monotonic() - t0
    if not data:
        return None, b"", seconds
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2], seconds


def post(server, body: bytes, *, host: str | None = None, headers: str = "", length: str | None = None):
    port = server.server_address[1]
    host = host if host is not None else f"127.0.0.1:{port}"
    length = str(len(body)) if length is None else length
    head = (f"POST /api/run HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{headers}Connection: close\r\n\r\n")
    return raw(server, head.encode() + body)


def test_lever_ranges_are_enforced_on_the_server(server, no_simulation):
    for value in (1e300, -1, 2.01, 10**15, "1", True, None, [1]):
        status, body, _ = post(server, json.dumps({"levers": {"discount_scale": value}}).encode())
        assert status == 400, value
        msg = json.loads(body)["error"]
        assert "discount_scale" in msg and "from 0 to 2" in msg and len(msg) < 600
    status, body, _ = post(server, json.dumps({"levers": {"discount_scale": 10**401}}).encode())
    assert status == 400 and "402 digits" in json.loads(body)["error"]  # refused while parsing: no OverflowError


@pytest.mark.parametrize("body, status", [
    (b"[" * 100_000 + b"]" * 100_000, 413),  # over the size limit before the nesting is even looked at
    (b"[" * 5_000 + b"]" * 5_000, 400),
    (b'{"levers": {"a": ' + b"[" * 50 + b"]" * 50 + b"}}", 400),
    (b"\xff\xfe not utf-8", 400),
    (b'{"levers": {"mdf_scale": NaN}}', 400),
    (b'{"levers": {"mdf_scale": Infinity}}', 400),
    (b'{"levers": {}, "seed": ' + b"9" * 5000 + b"}", 400),
    (b'{"levers": [1, 2]}', 400),
    (b'"just a string"', 400),
    (b'{"levers": {}, "extra": 1}', 400),
])
def test_bad_bodies_get_a_short_4xx(server, no_simulation, body, status):
    got, reply, _ = post(server, body)
    assert got == status
    assert len(reply) < MAX_ERROR_CHARS + 100 and "error" in json.loads(reply)


def test_many_unknown_levers_get_a_short_answer(server, no_simulation):
    levers = {f"l{i}": i for i in range(500)}
    status, reply, _ = post(server, json.dumps({"levers": levers}).encode())
    msg = json.loads(reply)["error"]
    assert status == 400 and len(reply) < 1_000 and "'l0'" in msg and "495 more" in msg and "unknown lever" in msg
    status, reply, _ = post(server, json.dumps({"levers": {f"l{i}": i for i in range(100_000)}}).encode())
    assert status == 413 and len(reply) < 200  # the audit's 100,000 levers had a 22 MB answer


@pytest.mark.parametrize("length", ["-1", "1e12", "abc", "1000000000000", str(MAX_BODY_BYTES + 1)])
def test_bad_content_lengths_are_refused_at_once(server, no_simulation, length):
    status, reply, seconds = post(server, b"{}", length=length)
    assert status in (400, 413) and seconds < 1.0


def test_a_body_shorter_than_its_length_times_out_instead_of_hanging(server, no_simulation):
    status, _, seconds = post(server, b'{"levers": {}}', length="500")
    assert status == 408 and seconds < 5


def test_a_silent_connection_is_closed(server):
    port = server.server_address[1]
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /api/run HTT")  # and then nothing
        assert s.recv(100) == b""  # closed by the server after its socket timeout (1 s here)
    assert time.monotonic() - t0 < 5


def test_missing_length_is_411(server, no_simulation):
    port = server.server_address[1]
    req = f"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    assert raw(server, req)[0] == 411


@pytest.mark.parametrize("host", ["evil.example:80", "attacker.test", "", "127.0.0.1:1"])
def test_another_host_is_refused(server, no_simulation, host):
    status, _, _ = post(server, b'{"levers": {}}', host=host)
    assert status == 421
    port = server.server_address[1]
    get = f"GET /api/levers HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    assert raw(server, get)[0] == 421
    ok = f"GET /api/levers HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n".encode()
    assert raw(server, ok)[0] == 200


@pytest.mark.parametrize("headers", ["Origin: http://evil.example\r\n", "Origin: null\r\n",
                                     "Sec-Fetch-Site: cross-site\r\n", "Sec-Fetch-Site: same-site\r\n"])
def test_a_cross_site_post_is_refused(server, no_simulation, headers):
    status, reply, _ = post(server, b'{"levers": {}}', headers=headers)
    assert status == 403 and "cross-site" in json.loads(reply)["error"]


def test_the_pages_own_origin_may_post(server, monkeypatch):
    calls = []
    monkeypatch.setattr(server.whatif, "run", lambda *a: calls.append(a) or {"ok": True})
    port = server.server_address[1]
    status, _, _ = post(server, b'{"levers": {"mdf_scale": 1.5}}',
                        headers=f"Origin: http://127.0.0.1:{port}\r\nSec-Fetch-Site: same-origin\r\n")
    assert status == 200 and calls == [({"mdf_scale": 1.5}, 1, 1)]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) |
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
LEVER_VALUES = st.dictionaries(st.sampled_from([lv.key for lv in LEVERS] + ["x", ""]), JSON, max_size=6)


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode()),
                      st.fixed_dictionaries({"levers": LEVER_VALUES}, optional={"seed": JSON, "replications": JSON})
                      .map(lambda v: json.dumps(v).encode())))
def test_fuzzed_bodies_are_a_run_or_a_short_refusal(body):
    try:
        levers, seed, reps = parse_run_request(body)
    except RequestError as err:
        assert 400 <= err.status < 500 and len(err.message) <= MAX_ERROR_CHARS
        return
    try:
        overrides = overrides_for(BASE, levers, LEVERS)
    except ScenarioError as err:
        assert len(str(err)) < 3_000
        return
    by_path = {lv.path: lv for lv in LEVERS}
    for path, value in overrides.items():
        lv = by_path[path]
        if lv.kind == "range":
            assert lv.min <= value <= lv.max
