"""A stand-in for Stripe's HTTP API, for tests: a real HTTP server on a free local port, in a
thread, that the official ``stripe`` library talks to when ``STRIPE_API_BASE`` points to it.

It implements what the card payment uses: ``POST /v1/checkout/sessions`` (records the
form-encoded parameters as Stripe's library sends them, e.g. ``line_items[0][quantity]``, and
answers an open, unpaid session that expires 24 hours later), ``GET /v1/checkout/sessions/<id>``
and ``POST /v1/checkout/sessions/<id>/expire``. As on Stripe, a session is ``open``, then
``complete`` or ``expired`` (by the expiry call, or once its ``expires_at`` has passed); only an
open one can be expired. A test marks a session paid with :meth:`StripeFake.pay` (which gives
it a PaymentIntent that refunds can name), makes the next
creation or expiry fail with :meth:`StripeFake.refuse_next` or
:meth:`StripeFake.refuse_next_expiry`, or has the session paid just before the next expiry call
with :meth:`StripeFake.pay_at_next_expiry`.

Refunds: ``POST /v1/refunds`` (of a PaymentIntent of the account it is asked on, at most what is
left of it; a request sent again with the same ``Idempotency-Key`` answers the first refund, as
Stripe does), ``GET /v1/refunds/<id>`` and ``GET /v1/refunds?payment_intent=…``. A refund is
``pending`` until the test settles it with :meth:`StripeFake.refund_succeed` or
:meth:`StripeFake.refund_fail`; :meth:`StripeFake.refund_in_dashboard` makes one as staff would
in Stripe's dashboard; :meth:`StripeFake.refuse_next_refund` makes the next request fail;
:meth:`StripeFake.charge` is the charge of a PaymentIntent, as ``charge.refunded`` carries it.
:func:`webhook_request` builds a webhook event signed as Stripe signs them.
"""

import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import stripe


@dataclass
class CreatedSession:
    """One ``POST /v1/checkout/sessions``: its parameters, the API key it was sent with, and the
    connected account it was made on (its ``Stripe-Account`` header; empty: the platform's)."""

    params: dict[str, str]
    api_key: str
    account: str = ""


@dataclass
class StripeFake:
    """The sessions the fake API knows, and the creations it received, in order."""

    url: str = ""
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The account each session lives on: Stripe finds it only with that Stripe-Account header.
    accounts: dict[str, str] = field(default_factory=dict)
    created: list[CreatedSession] = field(default_factory=list)
    retrieved: list[str] = field(default_factory=list)
    # The sessions that ``POST …/expire`` was asked to expire, in order (refused or not).
    expire_calls: list[str] = field(default_factory=list)
    # PaymentIntents of the paid sessions: amount (cents), account, session.
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    refund_accounts: dict[str, str] = field(default_factory=dict)
    # Every POST /v1/refunds, in order: (params, Idempotency-Key, Stripe-Account).
    refund_requests: list[tuple[dict[str, str], str, str]] = field(default_factory=list)
    _idempotent: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _refund_refusal: tuple[int, str] | None = None
    _refusal: tuple[int, str] | None = None
    _expiry_refusal: tuple[int, str] | None = None
    _paid_before_expiry: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pay(self, session_id: str, *, payment_intent: str = "") -> dict[str, Any]:
        """Mark the session completed and paid, as after the customer paid; return it."""
        session = self.sessions[session_id]
        session.update(
            status="complete",
            payment_status="paid",
            payment_intent=payment_intent or f"pi_test_{secrets.token_hex(8)}",
        )
        self.intents[session["payment_intent"]] = {
            "amount": session["amount_total"],
            "currency": session["currency"],
            "account": self.accounts[session_id],
            "charge": f"ch_test_{secrets.token_hex(8)}",
        }
        return session

    # --- Refunds ---

    def _refund_make(
        self, payment_intent: str, amount: int | None, account: str, metadata: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(payment_intent)
        if intent is None or intent["account"] != account:
            return 404, _error(f"No such payment_intent: '{payment_intent}'", "resource_missing")
        taken = sum(
            refund["amount"]
            for refund in self.refunds.values()
            if refund["payment_intent"] == payment_intent
            and refund["status"] not in ("failed", "canceled")
        )
        amount = intent["amount"] - taken if amount is None else amount
        if amount <= 0 or taken + amount > intent["amount"]:
            message = (
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({intent['amount'] - taken})"
            )
            return 400, _error(message, "amount_too_large")
        refund_id = f"re_test_{secrets.token_hex(12)}"
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "charge": intent["charge"],
            "payment_intent": payment_intent,
            "status": "pending",
            "reason": "requested_by_customer",
            "metadata": metadata,
            "created": int(time.time()),
            "failure_reason": None,
        }
        self.refunds[refund_id] = refund
        self.refund_accounts[refund_id] = account
        return 200, refund

    def _refund_create(
        self, params: dict[str, str], idempotency_key: str, account: str
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.refund_requests.append((params, idempotency_key, account))
            if idempotency_key and (account, idempotency_key) in self._idempotent:
                return self._idempotent[(account, idempotency_key)]
            if self._refund_refusal:
                status, message = self._refund_refusal
                self._refund_refusal = None
                return status, _error(message)
            metadata = {
                key[len("metadata[") : -1]: value
                for key, value in params.items()
                if key.startswith("metadata[")
            }
            answer = self._refund_make(
                params.get("payment_intent", ""),
                int(params["amount"]) if params.get("amount") else None,
                account,
                metadata,
            )
            if idempotency_key:
                self._idempotent[(account, idempotency_key)] = answer
            return answer

    def refund_in_dashboard(self, payment_intent: str, *, amount: int | None = None) -> dict:
        """A refund of ``amount`` cents (default: all that is left) of ``payment_intent`` made
        by staff in Stripe's dashboard, unknown to the site; return it."""
        with self._lock:
            status, refund = self._refund_make(
                payment_intent, amount, self.intents[payment_intent]["account"], {}
            )
        assert status == 200, refund
        refund["reason"] = None
        return refund

    def refund_succeed(self, refund_id: str) -> dict[str, Any]:
        """The bank has the refund: it succeeded; return it."""
        self.refunds[refund_id]["status"] = "succeeded"
        return self.refunds[refund_id]

    def refund_fail(self, refund_id: str, *, reason: str = "expired_or_canceled_card") -> dict:
        """The refund failed (the card was closed); return it."""
        self.refunds[refund_id].update(status="failed", failure_reason=reason)
        return self.refunds[refund_id]

    def refuse_next_refund(self, *, status: int = 400, message: str = "Invalid request") -> None:
        """Answer the next refund request with a Stripe error, nothing refunded."""
        self._refund_refusal = (status, message)

    def charge(self, payment_intent: str) -> dict[str, Any]:
        """The charge of ``payment_intent`` as a ``charge.refunded`` event carries it (without
        its refunds, as Stripe's API versions since 2022 send it)."""
        intent = self.intents[payment_intent]
        refunded = sum(
            refund["amount"]
            for refund in self.refunds.values()
            if refund["payment_intent"] == payment_intent and refund["status"] == "succeeded"
        )
        return {
            "id": intent["charge"],
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": refunded,
            "currency": intent["currency"],
            "payment_intent": payment_intent,
            "refunded": refunded == intent["amount"],
        }

    def _refund_get(self, path: str, query: str, account: str) -> tuple[int, dict[str, Any]]:
        refund_id = path.removeprefix("/v1/refunds").strip("/")
        with self._lock:
            if refund_id:
                refund = self.refunds.get(refund_id)
                if refund is None or self.refund_accounts[refund_id] != account:
                    return 404, _error(f"No such refund: '{refund_id}'", "resource_missing")
                return 200, refund
            intent = dict(parse_qsl(query)).get("payment_intent", "")
            listed = [
                refund
                for refund_id, refund in self.refunds.items()
                if refund["payment_intent"] == intent and self.refund_accounts[refund_id] == account
            ]
        return 200, {
            "object": "list",
            "url": "/v1/refunds",
            "has_more": False,
            "data": sorted(listed, key=lambda refund: -refund["created"]),
        }

    def expire(self, session_id: str) -> dict[str, Any]:
        """Mark the session expired, unpaid; return it."""
        session = self.sessions[session_id]
        session.update(status="expired", payment_status="unpaid", url=None)
        return session

    def _current(self, session_id: str, account: str) -> dict[str, Any] | None:
        """The session ``session_id`` as Stripe shows it now, if it lives on ``account``: an open
        session whose ``expires_at`` has passed is expired."""
        session = self.sessions.get(session_id)
        if session is None or self.accounts.get(session_id) != account:
            return None  # unknown, or asked of another account than the one it was made on
        if session["status"] == "open" and session["expires_at"] <= time.time():
            self.expire(session_id)
        return session

    def _expire_call(self, session_id: str, account: str) -> tuple[int, dict[str, Any]]:
        """``POST /v1/checkout/sessions/<id>/expire``: only an open session can be expired."""
        with self._lock:
            self.expire_calls.append(session_id)
            if self._expiry_refusal:
                status, message = self._expiry_refusal
                self._expiry_refusal = None
                return status, _error(message)
            session = self._current(session_id, account)
            if session is None:
                return 404, _missing(session_id)
            if self._paid_before_expiry:
                self._paid_before_expiry = False
                self.pay(session_id)
            if session["status"] != "open":
                message = (
                    'Only Checkout Sessions with a status in ["open"] can be expired. This '
                    f"Checkout Session has a status of `{session['status']}`."
                )
                return 400, _error(message)
            return 200, self.expire(session_id)

    def refuse_next(self, *, status: int = 400, message: str = "Invalid request") -> None:
        """Answer the next session creation with a Stripe error."""
        self._refusal = (status, message)

    def refuse_next_expiry(self, *, status: int = 400, message: str = "Invalid request") -> None:
        """Answer the next expiry call with a Stripe error, the session staying as it is."""
        self._expiry_refusal = (status, message)

    def pay_at_next_expiry(self) -> None:
        """Let the customer pay the session that the next expiry call names just before Stripe
        handles the call (which then refuses to expire a complete session)."""
        self._paid_before_expiry = True

    @property
    def last(self) -> CreatedSession:
        return self.created[-1]

    def _create(
        self, params: dict[str, str], api_key: str, account: str
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.created.append(CreatedSession(params=params, api_key=api_key, account=account))
            if self._refusal:
                status, message = self._refusal
                self._refusal = None
                return status, _error(message)
        session_id = f"cs_test_{secrets.token_hex(12)}"
        metadata = {
            key[len("metadata[") : -1]: value
            for key, value in params.items()
            if key.startswith("metadata[")
        }
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "mode": params.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "currency": params.get("line_items[0][price_data][currency]"),
            "amount_total": int(params.get("line_items[0][price_data][unit_amount]", 0))
            * int(params.get("line_items[0][quantity]", 1)),
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"),
            "metadata": metadata,
            "payment_intent": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "created": now,
            "expires_at": int(params.get("expires_at") or now + 24 * 3600),
            "livemode": False,
        }
        self.sessions[session_id] = session
        self.accounts[session_id] = account
        return 200, session


def _error(message: str, code: str = "") -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "message": message, "code": code}}


def _missing(session_id: str) -> dict[str, Any]:
    return _error(f"No such checkout.session: '{session_id}'", "resource_missing")


def _handler(fake: StripeFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            account = self.headers.get("Stripe-Account", "")
            expiry = re.fullmatch(r"/v1/checkout/sessions/([^/]+)/expire", self.path)
            if expiry:
                self._answer(*fake._expire_call(expiry[1], account))
                return
            if self.path == "/v1/refunds":
                params = dict(parse_qsl(body, keep_blank_values=True))
                key = self.headers.get("Idempotency-Key", "")
                self._answer(*fake._refund_create(params, key, account))
                return
            if self.path != "/v1/checkout/sessions":
                self._answer(404, _error(f"Unrecognized request URL (POST: {self.path})"))
                return
            api_key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            params = dict(parse_qsl(body, keep_blank_values=True))
            self._answer(*fake._create(params, api_key, account))

        def do_GET(self) -> None:
            if self.path.startswith("/v1/refunds"):
                path, _sep, query = self.path.partition("?")
                self._answer(*fake._refund_get(path, query, self.headers.get("Stripe-Account", "")))
                return
            prefix = "/v1/checkout/sessions/"
            session_id = self.path.split("?")[0].removeprefix(prefix)
            fake.retrieved.append(session_id)
            with fake._lock:
                session = (
                    fake._current(session_id, self.headers.get("Stripe-Account", ""))
                    if self.path.startswith(prefix)
                    else None
                )
            if session is None:
                self._answer(404, _missing(session_id))
                return
            self._answer(200, session)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    return Handler


@contextmanager
def stripe_fake_server() -> Iterator[StripeFake]:
    """Run the fake API until the block ends; its ``url`` is the value for STRIPE_API_BASE."""
    fake = StripeFake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def webhook_request(
    event_type: str,
    session: dict[str, Any],
    *,
    secret: str,
    timestamp: int | None = None,
    account: str = "",
) -> tuple[str, str]:
    """A webhook event of ``event_type`` about ``session`` (or a refund, a charge), as Stripe
    posts it: the JSON payload and its ``Stripe-Signature`` header (``t=…,v1=…``), signed with
    ``secret``. An event of a connected ``account`` names it, as Stripe's Connect events do."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    payload = json.dumps(
        {
            **({"account": account} if account else {}),
            "id": f"evt_test_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": stripe.api_version,
            "created": timestamp,
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": session},
        }
    )
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return payload, f"t={timestamp},v1={signature}"
