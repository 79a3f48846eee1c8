"""The sans-I/O protocol driven directly, without an adapter or a store (h11 style).

Each test feeds a generator the store's answers by hand and asserts the exact sequence
of typed operations it yields, and its decision. This pins the cost of every request
(a heartbeat is one ``LoadAndTouch``) and documents the protocol. The same rules through
real adapters and stores: tests/conformance/.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, Generator

import pytest

from tether import Config, Policy, Protocol, Request, Response, Session, hash_token, new_token
from tether._ops import Create, Delete, DeleteByUser, ListByUser, Load, LoadAndTouch, Op, ReportEnd, Save, Sweep, Touch
from tether._records import Record
from tether.testing import FakeClock, make_record

POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)  # granularity 30 s
SAME_ORIGIN = {"host": "testserver", "origin": "http://testserver", "content-type": "application/json"}


def drive(gen: Generator[Op, Any, Any], *answers: Any) -> tuple[list[Op], Any]:
    """Run ``gen``, answering its operations in order; the operations and the result."""
    ops: list[Op] = []
    pending = list(answers)
    try:
        op = next(gen)
        while True:
            ops.append(op)
            op = gen.send(pending.pop(0))
    except StopIteration as done:
        assert not pending, f"unused answers: {pending}"
        return ops, done.value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def protocol_for(clock: FakeClock, **config: Any) -> Protocol:
    return Protocol(Config(policy=POLICY, clock=clock, on_end=lambda record, reason: None, **config))


def signed_in(clock: FakeClock, ago: float = 0.0) -> tuple[str, Record]:
    """A token and its record, signed in ``ago`` seconds before now."""
    token = new_token()
    record = make_record(clock.now - ago, user="ada", policy=POLICY)
    return token, replace(record, key=hash_token(token))


def request(method: str, path: str, token: str | None = None, **headers: str) -> Request:
    cookie = {"cookie": f"tether={token}"} if token else {}
    return Request(method, path, headers={**SAME_ORIGIN, **cookie, **headers})


def test_a_heartbeat_is_exactly_one_load_and_touch(clock: FakeClock) -> None:
    protocol = protocol_for(clock)
    token, record = signed_in(clock, ago=100)
    slid = replace(record, meta=POLICY.touched(record.meta, clock.now))
    ops, response = drive(protocol.endpoint(request("POST", "/_tether/heartbeat", token), b"{}"), slid)
    assert ops == [LoadAndTouch(record.key, clock.now, POLICY)]
    assert response.status == 200


def test_a_refused_post_yields_no_operation(clock: FakeClock) -> None:
    token, _ = signed_in(clock)
    evil = request("POST", "/_tether/heartbeat", token, origin="http://evil.example")
    ops, response = drive(protocol_for(clock).endpoint(evil, b"{}"))
    assert (ops, response.status) == ([], 403)


def test_an_unreadable_body_is_a_400_before_any_operation(clock: FakeClock) -> None:
    token, _ = signed_in(clock)
    ops, response = drive(protocol_for(clock).endpoint(request("POST", "/_tether/heartbeat", token), None))
    assert (ops, response.status) == ([], 400)


def test_status_is_one_plain_load(clock: FakeClock) -> None:
    token, record = signed_in(clock, ago=100)
    ops, response = drive(protocol_for(clock).endpoint(request("GET", "/_tether/status", token)), record)
    assert ops == [Load(record.key)]
    assert response.status == 200


def test_no_cookie_no_operation(clock: FakeClock) -> None:
    ops, response = drive(protocol_for(clock).endpoint(request("POST", "/_tether/heartbeat"), b"{}"))
    assert (ops, response.status) == ([], 401)


def test_an_expired_session_is_claimed_then_reported(clock: FakeClock) -> None:
    token, record = signed_in(clock, ago=700)
    ops, session = drive(protocol_for(clock).open_session(request("GET", "/page", token)), record, record, None)
    assert ops == [LoadAndTouch(record.key, clock.now, POLICY), Delete(record.key), ReportEnd(record, "idle")]
    assert isinstance(session, Session) and session.ended_reason == "idle" and session.clears_cookie


def test_a_per_user_policy_loads_then_touches(clock: FakeClock) -> None:
    protocol = protocol_for(clock, policy_for=lambda user: POLICY)
    token, record = signed_in(clock, ago=100)
    ops, session = drive(protocol.open_session(request("GET", "/page", token)), record, True)
    assert ops == [Load(record.key), Touch(record.key, POLICY.touched(record.meta, clock.now))]
    assert session.active


def test_a_cross_site_post_to_a_page_reads_but_never_slides(clock: FakeClock) -> None:
    token, record = signed_in(clock, ago=100)
    forged = request("POST", "/logout", token, origin="http://evil.example")
    ops, session = drive(protocol_for(clock).open_session(forged), record)
    assert ops == [Load(record.key)]
    assert session.meta == record.meta


def test_saving_unchanged_data_writes_nothing_and_changed_data_saves(clock: FakeClock) -> None:
    protocol = protocol_for(clock)
    token, record = signed_in(clock)
    _, session = drive(protocol.open_session(request("GET", "/page", token)), record)
    assert drive(protocol.save_session(session)) == ([], [])
    session.data["cart"] = [1]
    ops, cookies = drive(protocol.save_session(session), True)
    assert ops == [Save(Record(record.key, record.meta, {"cart": [1]}))]
    assert cookies == []


# What the app does to its data, and whether the page saves it: "changed" means the
# data's JSON differs from what was loaded (tracked writes, not a snapshot per page).
DATA_EDITS: list[tuple[str, dict[str, Any], Any, bool]] = [
    ("nothing", {"n": 1}, lambda d: None, False),
    ("a read", {"n": 1, "cart": [1]}, lambda d: (d["n"], d.get("cart"), list(d.items())), False),
    ("the same value put back", {"n": 1}, lambda d: d.__setitem__("n", 1), False),
    ("update() with the same values", {"n": 1}, lambda d: d.update(n=1), False),
    ("setdefault() of a key it has", {"n": 1}, lambda d: d.setdefault("n", 2), False),
    ("a key removed and put back", {"n": 1}, lambda d: (d.pop("n"), d.__setitem__("n", 1)), False),
    ("a new key", {"n": 1}, lambda d: d.__setitem__("m", 2), True),
    ("a new value", {"n": 1}, lambda d: d.__setitem__("n", 2), True),
    ("del", {"n": 1}, lambda d: d.__delitem__("n"), True),
    ("pop()", {"n": 1}, lambda d: d.pop("n"), True),
    ("popitem()", {"n": 1}, lambda d: d.popitem(), True),
    ("clear()", {"n": 1}, lambda d: d.clear(), True),
    ("setdefault() of a new key", {"n": 1}, lambda d: d.setdefault("m", 2), True),
    ("update()", {"n": 1}, lambda d: d.update({"m": 2}), True),
    ("|=", {"n": 1}, lambda d: d.__ior__({"m": 2}), True),
    ("a loaded list appended to in place", {"cart": [1]}, lambda d: d["cart"].append(2), True),
    ("a loaded dict changed in place", {"prefs": {"a": 1}}, lambda d: d["prefs"].update(a=2), True),
    ("a nested list changed in place", {"x": {"y": [1]}}, lambda d: d["x"]["y"].append(2), True),
    ("a list written, then appended to", {"n": 1}, lambda d: (d.__setitem__("cart", []), d["cart"].append(1)), True),
]


@pytest.mark.parametrize("loaded, edit, saves", [e[1:] for e in DATA_EDITS], ids=[e[0] for e in DATA_EDITS])
def test_a_page_saves_its_data_exactly_when_it_changed(clock: FakeClock, loaded: dict[str, Any], edit: Any,
                                                       saves: bool) -> None:
    protocol = protocol_for(clock)
    token, record = signed_in(clock)
    record.data = copy.deepcopy(loaded)
    _, session = drive(protocol.open_session(request("GET", "/page", token)), record)
    edit(session.data)
    expected = copy.deepcopy(dict(session.data))
    assert session.changed is saves
    ops, cookies = drive(protocol.save_session(session), *([True] if saves else []))
    assert ops == ([Save(Record(record.key, record.meta, expected))] if saves else [])
    assert cookies == []


def test_copies_and_pickles_of_the_data_are_plain_dicts_as_before(clock: FakeClock) -> None:
    import pickle

    protocol = protocol_for(clock)
    token, record = signed_in(clock)
    record.data = {"n": 1, "cart": [1]}
    _, session = drive(protocol.open_session(request("GET", "/page", token)), record)
    shallow, deep = copy.copy(session.data), copy.deepcopy(session.data)
    pickled = pickle.loads(pickle.dumps(session.data))
    assert type(shallow) is type(deep) is type(pickled) is dict
    assert shallow == deep == pickled == {"n": 1, "cart": [1]}
    assert shallow["cart"] is session.data["cart"] and deep["cart"] is not session.data["cart"]
    assert not session.changed


def test_sign_in_rotates_the_token_and_creates_a_record(clock: FakeClock) -> None:
    protocol = protocol_for(clock)
    token, record = signed_in(clock)
    _, session = drive(protocol.open_session(request("GET", "/page", token)), record)
    session.login("ada")
    ops, cookies = drive(protocol.save_session(session), record, True)
    assert ops[0] == Delete(record.key)  # the same person: rotated, not ended
    assert isinstance(ops[1], Create) and ops[1].record.meta == POLICY.start(clock.now, "ada")
    assert len(ops) == 2 and cookies[0].startswith("tether=")


def test_sign_out_claims_and_reports_logout(clock: FakeClock) -> None:
    protocol = protocol_for(clock)
    token, record = signed_in(clock)
    _, session = drive(protocol.open_session(request("GET", "/page", token)), record)
    session.logout()
    ops, cookies = drive(protocol.save_session(session), record, None)
    assert ops == [Delete(record.key), ReportEnd(record, "logout")]
    assert "Max-Age=0" in cookies[0]


def tombstone(record: Record, clock: FakeClock) -> Create:
    """What revoking writes in a record's place: no user, no data, ``ended="revoked"``,
    kept one idle timeout so the revoked browser learns why."""
    expires = clock.now + POLICY.idle_timeout
    meta = replace(record.meta, user=None, ended="revoked", idle_expires_at=expires, absolute_expires_at=expires)
    return Create(Record(record.key, meta, {}))


def test_revoke_by_key_and_by_user_leaves_tombstones(clock: FakeClock) -> None:
    protocol = protocol_for(clock)
    _, record = signed_in(clock)
    ended = ReportEnd(record, "revoked")
    assert drive(protocol.revoke(record.key), record, True, None) == ([Delete(record.key), tombstone(record, clock), ended], 1)
    ops, count = drive(protocol.revoke(user="ada"), [record, record], True, None, True, None)
    assert ops == [DeleteByUser("ada"), tombstone(record, clock), ended, tombstone(record, clock), ended]
    assert count == 2


def test_revoke_all_but_one_lists_and_claims_each_other(clock: FakeClock) -> None:
    _, kept = signed_in(clock)
    _, other = signed_in(clock)
    ops, count = drive(protocol_for(clock).revoke(user="ada", keep=kept.key), [kept, other], other, True, None)
    assert ops == [ListByUser("ada"), Delete(other.key), tombstone(other, clock), ReportEnd(other, "revoked")]
    assert count == 1


def test_a_tombstone_is_never_reported_twice(clock: FakeClock) -> None:
    _, record = signed_in(clock)
    dead = tombstone(record, clock).record
    assert drive(protocol_for(clock).revoke(dead.key), dead, True) == ([Delete(dead.key), Create(dead)], 0)
    clock.advance(POLICY.idle_timeout)
    assert drive(protocol_for(clock).sweep(50), [dead]) == ([Sweep(clock.now, 50)], 1)


def test_sweep_claims_a_batch_and_reports_each_reason(clock: FakeClock) -> None:
    idle = make_record(clock.now - 700, policy=POLICY)
    absolute = make_record(clock.now - 3700, policy=POLICY)
    ops, count = drive(protocol_for(clock).sweep(50), [idle, absolute], None, None)
    assert ops == [Sweep(clock.now, 50), ReportEnd(idle, "idle"), ReportEnd(absolute, "absolute")]
    assert count == 2


def test_without_on_end_nothing_is_reported(clock: FakeClock) -> None:
    protocol = Protocol(Config(policy=POLICY, clock=clock))
    _, record = signed_in(clock)
    assert drive(protocol.revoke(record.key), record, True) == ([Delete(record.key), tombstone(record, clock)], 1)


def test_an_endpoint_answer_is_a_response(clock: FakeClock) -> None:
    ops, response = drive(protocol_for(clock).endpoint(request("GET", "/_tether/nosuch")))
    assert ops == [] and isinstance(response, Response) and response.status == 404


# -- skipping save_session when nothing is pending (the adapters' page hot path) ---------------


def _tapped(gen: Generator[Op, Any, Any], ops: list[Op]) -> Generator[Op, Any, Any]:
    """``gen``, recording every operation it yields."""
    try:
        op = next(gen)
        while True:
            ops.append(op)
            op = gen.send((yield op))
    except StopIteration as done:
        return done.value


PAGE_ACTIONS: list[tuple[str, str, float, Any, bool]] = [
    # (name, which session the request carries, seconds since sign-in, what the app does,
    #  saves_nothing for the store-backed protocol)
    ("anonymous, reads", "none", 0, lambda s: s.data.get("n"), True),
    ("anonymous, writes", "none", 0, lambda s: s.data.__setitem__("n", 1), False),
    ("anonymous, logout", "none", 0, lambda s: s.logout(), False),
    ("unknown token", "unknown", 0, lambda s: None, False),
    ("malformed token", "malformed", 0, lambda s: None, False),
    ("live, reads", "live", 1, lambda s: s.data.get("n"), True),
    ("live, past the granularity", "live", 100, lambda s: None, True),
    ("live, an equal value put back", "live", 1, lambda s: s.data.__setitem__("n", 1), True),
    ("live, writes", "live", 1, lambda s: s.data.__setitem__("n", 2), False),
    ("live, in place", "live", 1, lambda s: s.data["cart"].append(2), False),
    ("live, login as someone else", "live", 1, lambda s: s.login("bob"), False),
    ("live, login again", "live", 1, lambda s: s.login("ada"), False),
    ("live, logout", "live", 1, lambda s: s.logout(), False),
    ("live, end the others", "live", 1, lambda s: s.end_other_sessions(), False),
]


@pytest.mark.parametrize("mode", ["store", "cookie"])
@pytest.mark.parametrize("carried, after, action, expected", [a[1:] for a in PAGE_ACTIONS],
                         ids=[a[0] for a in PAGE_ACTIONS])
def test_saves_nothing_only_when_save_session_would_do_nothing(mode: str, carried: str, after: float, action: Any,
                                                               expected: bool) -> None:
    """The adapters skip ``save_session`` when ``saves_nothing`` says so: it must never
    say so when the session has something to store or a cookie to send."""
    from tether._cookie_mode import CookieProtocol
    from tether._drive import run_sync
    from tether.stores import MemoryStore
    from tether.stores.cookie import SignedCookieStore

    clock = FakeClock()
    config = Config(policy=POLICY, clock=clock, on_end=lambda record, reason: None)
    store: Any
    if mode == "store":
        store = MemoryStore()
        protocol = Protocol(config)
    else:
        store = SignedCookieStore("a-signing-key-0123456789abcdef", revocations=MemoryStore())
        protocol = CookieProtocol(config, store)
    signing_in = run_sync(protocol.open_session(request("POST", "/login")), store)
    signing_in.data.update(n=1, cart=[1])
    signing_in.login("ada")
    cookie = run_sync(protocol.save_session(signing_in), store)[0]
    token = {"none": None, "unknown": new_token(), "malformed": "x", "live": cookie.split(";")[0].split("=", 1)[1]}
    clock.advance(after)
    session = run_sync(protocol.open_session(request("GET", "/page", token[carried])), store)
    action(session)
    nothing = protocol.saves_nothing(session)
    ops: list[Op] = []
    cookies = run_sync(_tapped(protocol.save_session(session), ops), store)
    if nothing:
        assert (ops, cookies) == ([], [])
    # Signed-cookie mode re-signs a slid session's cookie: that is not nothing.
    assert nothing is (expected and not (mode == "cookie" and after > POLICY.granularity))


# -- the request facts ---------------------------------------------------------------------------


def test_make_request_is_the_constructor_without_its_cost() -> None:
    import dataclasses

    from tether._protocol import make_request

    values = ("POST", "/_tether/heartbeat", "https", {"cookie": "tether=x"}, "v=1", "192.0.2.1")
    made = make_request(*values)
    assert made == Request(*values) and repr(made) == repr(Request(*values))
    # Every field set (a field added to Request must be added there too), nothing else.
    assert list(vars(made)) == [f.name for f in dataclasses.fields(Request)]
    assert made.secure and dataclasses.replace(made, scheme="http").secure is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.path = "/elsewhere"  # type: ignore[misc]


class _Recording(dict):  # type: ignore[type-arg]
    """Request headers that remember every name the protocol looked up."""

    asked: set[str] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        _Recording.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        _Recording.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: Any) -> bool:
        _Recording.asked.add(key)
        return super().__contains__(key)


@pytest.mark.parametrize("mode", ["store", "cookie"])
def test_the_protocol_reads_no_header_but_those_the_adapters_pass(mode: str) -> None:
    """The adapters look up only HEADERS_READ: a header the protocol reads beyond them
    would silently never arrive."""
    from tether._cookie_mode import CookieProtocol
    from tether._drive import run_sync
    from tether._protocol import HEADERS_READ
    from tether.stores import MemoryStore
    from tether.stores.cookie import SignedCookieStore

    clock = FakeClock()
    config = Config(policy=POLICY, clock=clock, on_end=lambda record, reason: None, trusted_origins=["https://a.example"])
    store: Any = MemoryStore()
    protocol = Protocol(config)
    if mode == "cookie":
        store = SignedCookieStore("a-signing-key-0123456789abcdef", revocations=MemoryStore())
        protocol = CookieProtocol(config, store)
    _Recording.asked = set()
    everything = {**SAME_ORIGIN, "sec-fetch-site": "same-site", "origin": "https://a.example", "tether-passive": "1",
                  "if-none-match": '"x"', "user-agent": "Firefox", "accept": "*/*"}

    def req(method: str, path: str, **headers: str) -> Request:
        return Request(method, path, headers=_Recording({**everything, **headers}))

    session = run_sync(protocol.open_session(req("POST", "/login")), store)
    session.data["n"] = 1
    session.login("ada")
    token = run_sync(protocol.save_session(session), store)[0].split(";")[0].split("=", 1)[1]
    for method, path in [("POST", "/_tether/heartbeat"), ("GET", "/_tether/status"), ("POST", "/_tether/end"),
                         ("GET", "/_tether/tether.js"), ("GET", "/page"), ("POST", "/form")]:
        clock.advance(100)
        request = req(method, path, cookie=f"tether={token}")
        if path.startswith("/_tether/"):
            run_sync(protocol.endpoint(request, b"{}"), store)
        else:
            run_sync(protocol.save_session(run_sync(protocol.open_session(request), store)), store)
    assert _Recording.asked and _Recording.asked <= set(HEADERS_READ), _Recording.asked - set(HEADERS_READ)
