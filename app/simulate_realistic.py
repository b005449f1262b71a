"""`orderflow simulate --profile realistic`: a compressed day of orders through the shipped order story
(bpmn/order_management.bpmn), so a new user sees the inbox, incidents and dashboards fill up within a minute.

The mix: web, marketplace, EDI and phone orders (marketplace and EDI arrive as the message order-placed); new,
regular and key accounts; addresses at home, in the EU and abroad, some undeliverable or doubtful; mostly small
orders with some large ones that need approvals; dangerous goods; items on backorder; a denied party now and then.
Meanwhile the sandbox misbehaves through /_control: some payments are declined, the payment system goes down for a
few seconds, a carrier stops taking bookings. Simulated people work the inbox through the REST task API with the
given token (approvals, reviews, dangerous-goods checks, payment problems, parcels no carrier took), a few
approvals are left to escalate, some declined customers send new payment details, some customers cancel.

Every wait of the diagram is shortened for the demo with the order variables order_settings.dmn reads."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

# The diagram's waits, shortened so the whole story plays within a minute or two.
DEMO_SETTINGS = {
    "approvalTimeout": "PT20S",
    "paymentUpdateTimeout": "PT10S",
    "restockCheckInterval": "PT3S",
    "paymentRetryCycle": "R3/PT2S",
}
# Orders in incidents count as ended only this long after the last trouble: the circuit of a system that was down
# closes after a cool-down (30 s by default), and the simulated operations retry the incidents then.
INCIDENT_GRACE_SECONDS = 45
CHANNELS = (("web", 55), ("marketplace", 20), ("edi", 15), ("phone", 10))
ACCOUNTS = (("regular", 60), ("new", 28), ("key", 12))
# SKU -> unit price (the sandbox's catalogue: coffee and kitchen things).
PRICES = {
    "SKU-1001": 18.9, "SKU-1002": 9.5, "SKU-1003": 6.9, "SKU-1004": 12.9, "SKU-1005": 24.0, "SKU-1006": 19.5,
    "SKU-1007": 4.5, "SKU-1008": 149.0, "SKU-1009": 59.0, "SKU-1010": 79.0, "SKU-1011": 29.0, "SKU-1012": 34.0,
    "SKU-1013": 27.5, "SKU-1016": 2.9, "SKU-1017": 7.9, "SKU-1018": 5.5, "SKU-1020": 22.0,
}  # fmt: skip
ADDRESSES = (
    ({"street": "Unter den Linden 5", "city": "Berlin", "postalCode": "10117", "country": "DE"}, 40),
    ({"street": "Marienplatz 8", "city": "München", "postalCode": "80331", "country": "DE"}, 20),
    ({"street": "12 Rue de Rivoli", "city": "Paris", "postalCode": "75001", "country": "FR"}, 8),
    ({"street": "Damrak 1", "city": "Amsterdam", "postalCode": "1012LG", "country": "NL"}, 6),
    ({"street": "Stephansplatz 3", "city": "Wien", "postalCode": "1010", "country": "AT"}, 6),
    ({"street": "Via del Corso 10", "city": "Roma", "postalCode": "00186", "country": "IT"}, 4),
    ({"street": "Bahnhofstrasse 1", "city": "Zürich", "postalCode": "8001", "country": "CH"}, 6),
    ({"street": "221B Baker Street", "city": "London", "postalCode": "NW1 6XE", "country": "GB"}, 5),
    ({"street": "1 Market St", "city": "San Francisco", "postalCode": "94105", "country": "US", "region": "CA"}, 5),
)
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Niklaus")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Wirth")


def _pick(rng: random.Random, weighted: tuple) -> Any:
    return rng.choices([value for value, _ in weighted], weights=[weight for _, weight in weighted])[0]


@dataclass
class PlannedOrder:
    business_key: str
    channel: str
    variables: dict[str, Any]
    cancel_after: float | None = None  # seconds after the start the customer cancels


def plan_order(rng: random.Random, business_key: str) -> PlannedOrder:
    """One order of the mix, with what its customer will do."""
    channel, account = _pick(rng, CHANNELS), _pick(rng, ACCOUNTS)
    tier = {"key": rng.choice(("gold", "silver")), "new": "standard"}.get(
        account, rng.choices(("standard", "silver", "gold"), weights=(60, 30, 10))[0]
    )
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    customer_id = f"C-{rng.randint(1000, 9999)}"
    customer: dict[str, Any] = {"id": customer_id, "name": name, "email": f"{customer_id.lower()}@example.com",
                                "tier": tier, "accountType": account}  # fmt: skip
    address = {"name": name, **_pick(rng, ADDRESSES)}
    roll = rng.random()
    if roll < 0.03:
        address.pop("city")  # undeliverable: rejected, or reviewed for a key account
    elif roll < 0.08:
        address["street"] = "".join(c for c in address["street"] if not c.isdigit()).strip()  # doubtful: no number
    elif roll < 0.09 and address["country"] != "DE":
        customer.update(id="C-DENIED", name="Denied Trading Ltd")  # a denied party abroad
    skus = rng.sample(sorted(PRICES), rng.randint(1, 4))
    items: list[dict[str, Any]] = [
        {"sku": sku, "quantity": rng.randint(1, 5), "unitPrice": PRICES[sku]} for sku in skus
    ]
    if rng.random() < 0.12:  # a large order, which needs approvals: sales, often finance, rarely management too
        target = rng.choices((rng.uniform(5_500, 9_000), rng.uniform(26_000, 40_000), rng.uniform(105_000, 130_000)),
                             weights=(70, 25, 5))[0]  # fmt: skip
        sku = rng.choice(("SKU-1008", "SKU-1010"))
        items[0] = {"sku": sku, "quantity": round(target / PRICES[sku]), "unitPrice": PRICES[sku]}
    extra = rng.random()
    if extra < 0.04:
        items.append({"sku": "SKU-1014", "quantity": 2, "unitPrice": 6.5, "category": "hazardous"})
    elif extra < 0.09:
        items.append({"sku": "SKU-OUT", "quantity": 1, "unitPrice": 229.0})  # on backorder until stock arrives
    if rng.random() < 0.3:
        customer["acceptsPartialDelivery"] = False
    variables = {"channel": channel, "customer": customer, "items": items, "shippingAddress": address,
                 "currency": "EUR", **DEMO_SETTINGS}  # fmt: skip
    cancel_after = rng.uniform(1.0, 6.0) if rng.random() < 0.03 else None
    return PlannedOrder(business_key, channel, variables, cancel_after)


@dataclass
class RealisticResult:
    orders: int
    started: int
    outcomes: dict[str, int]
    tasks_worked: dict[str, int]
    seconds: float
    start_errors: int = 0
    events: list[str] = field(default_factory=list)  # what the chaos did, in order

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "started": self.started,
            "outcomes": self.outcomes,
            "tasksWorked": self.tasks_worked,
            "seconds": round(self.seconds, 1),
            "startErrors": self.start_errors,
            "sandbox": self.events,
        }


class _Run:
    """One simulation: the HTTP session, what was started, and the people and troubles acting on it."""

    def __init__(self, base_url: str, token: str, sandbox_url: str, seed: int) -> None:
        self.api = f"{base_url.rstrip('/')}/api/v1"
        self.sandbox = sandbox_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rng = random.Random(seed)
        self.prefix = f"DEMO-{int(time.time() * 1000):x}-"
        self.lock = threading.Lock()
        self.started: dict[str, str] = {}  # business key -> instance id
        self.worked: Counter[str] = Counter()
        self.seen_at: dict[str, float] = {}  # task or wait -> when first seen
        self.events: list[str] = []
        self.stop = threading.Event()

    def http(self) -> requests.Session:
        session = requests.Session()
        session.headers.update(self.headers)
        return session

    def control(self, note: str, **settings: Any) -> None:
        try:
            requests.post(f"{self.sandbox}/_control", json=settings, timeout=5).raise_for_status()
            self.events.append(note)
        except requests.RequestException as exc:
            self.events.append(f"{note}: sandbox control failed ({exc.__class__.__name__})")

    # -- people ---------------------------------------------------------------------------------------------

    def work_inbox(self, http: requests.Session) -> None:
        """The approvers, reviewers and operators: each open task of this run, after some thinking time."""
        tasks = http.get(f"{self.api}/tasks", params={"perPage": 200}, timeout=10).json().get("items", [])
        now = time.monotonic()
        payment_up = self.circuit(http, "payment") != "open"  # half-open: a retry is the trial call it waits for
        for task in tasks:
            if not (task.get("businessKey") or "").startswith(self.prefix):
                continue
            first_seen = self.seen_at.setdefault(task["id"], now)
            rng = random.Random(task["id"])  # each task's person decides the same way however often we look
            if task["elementId"] == "Task_ApproveOrder" and rng.random() < 0.1:
                continue  # forgotten: the approval timeout escalates it to management
            if task["elementId"] == "Task_ResolvePayment" and not payment_up:
                continue  # operations look at the health page first: no retry while payment's circuit is open
            if now - first_seen < rng.uniform(1.0, 4.0):
                continue  # thinking
            answer = self.answer(task, rng)
            if answer is None:
                continue
            claimed = http.post(f"{self.api}/tasks/{task['id']}/claim", json={}, timeout=10)
            done = http.post(f"{self.api}/tasks/{task['id']}/complete", json={"variables": answer}, timeout=10)
            if claimed.ok and done.ok:
                self.worked[task["elementId"]] += 1

    def circuit(self, http: requests.Session, system: str) -> str | None:
        """A system's circuit as GET /health reports it (what an operator sees before retrying)."""
        health = http.get(f"{self.api}/health", timeout=10).json()
        return ((health.get("checks") or {}).get("systems") or {}).get("systems", {}).get(system, {}).get("circuit")

    def work_incidents(self, http: requests.Session) -> None:
        """Operations: once a system's circuit is no longer open, retry this run's incidents (each once per
        opening), so the exception resolution time on the dashboard has something to measure."""
        found = http.get(f"{self.api}/incidents", params={"perPage": 200}, timeout=10).json().get("items", [])
        mine = [i for i in found if (i.get("businessKey") or "").startswith(self.prefix)]
        if not mine or any(self.circuit(http, system) == "open" for system in ("tax", "payment")):
            return
        for incident in mine:
            if http.post(f"{self.api}/incidents/{incident['id']}/retry", json={}, timeout=10).ok:
                self.worked["incidentsRetried"] += 1

    @staticmethod
    def answer(task: dict, rng: random.Random) -> dict[str, Any] | None:
        element = task["elementId"]
        if element in ("Task_ApproveOrder", "Task_EscalateApproval"):
            approved = rng.random() < 0.9
            return {"approved": approved, "approvalComment": "fine" if approved else "credit limit reached"}
        if element == "Task_ReviewOrder":
            accept = rng.random() < 0.8
            note = "checked with the customer" if accept else "address could not be confirmed"
            return {"reviewDecision": "accept" if accept else "reject", "reviewNote": note}
        if element == "Task_CheckDangerousGoods":
            return {"dangerousGoodsChecked": True, "dangerousGoodsNote": "UN 3265, packed and labelled"}
        if element == "Task_ResolvePayment":
            return {"paymentResolution": "retry", "paymentResolutionNote": "payment system is back"}
        if element == "Task_ArrangeShipment":
            return {"carrier": "GLS", "trackingNumber": f"GLS{rng.randrange(10**9):09d}"}
        return None  # discrepancy reviews and anything else stay for a person

    def answer_declines(self, http: requests.Session) -> None:
        """Most customers whose payment was declined send new details after a while; the rest never do."""
        params = {"businessKeyPrefix": self.prefix, "status": "waiting", "perPage": 200}
        waiting = http.get(f"{self.api}/process-instances", params=params, timeout=10).json().get("items", [])
        now = time.monotonic()
        for summary in waiting:
            detail = http.get(f"{self.api}/process-instances/{summary['id']}", timeout=10).json()
            if "Task_AwaitPaymentDetails" not in [e["elementId"] for e in detail.get("activeElements") or []]:
                continue
            key = f"pay:{summary['id']}:{detail.get('revision')}"
            first_seen = self.seen_at.setdefault(key, now)
            rng = random.Random(key)
            if rng.random() < 0.3 or now - first_seen < 3:
                continue  # this customer never answers (the timeout cancels), or not yet
            body = {"name": "payment-details-updated", "businessKey": summary["businessKey"],
                    "variables": {"paymentMethod": "card ending " + str(rng.randint(1000, 9999))}}  # fmt: skip
            if http.post(f"{self.api}/messages", json=body, timeout=10).ok:
                self.worked["paymentDetailsUpdated"] += 1

    def people(self) -> None:
        with self.http() as http:
            while not self.stop.wait(0.5):
                try:
                    self.work_inbox(http)
                    self.answer_declines(http)
                    self.work_incidents(http)
                except requests.RequestException:
                    continue  # the server is busy; look again

    # -- troubles -------------------------------------------------------------------------------------------

    def chaos(self, window: float) -> None:
        """Declines all along, short tax and payment outages, a carrier refusing bookings, stock arriving."""
        self.control("declineRate 6%", declineRate=0.06)
        tax_back, payment_down = 0.05 + 5 / max(window, 1), 0.25
        payment_down = max(payment_down, tax_back + 0.01)  # one outage at a time: the sandbox takes one list
        steps = [
            (0.05, "tax system down for 5 s", {"outageSystems": ["tax"]}),
            (tax_back, "tax system back", {"outageSystems": []}),
            (payment_down, "payment system down for 6 s", {"outageSystems": ["payment"]}),
            (payment_down + 6 / max(window, 1), "payment system back", {"outageSystems": []}),
            (0.5, "DPD refuses bookings for 10 s", {"unavailableCarriers": ["DPD"]}),
            (0.5 + 10 / max(window, 1), "DPD takes bookings again", {"unavailableCarriers": []}),
        ]
        began = time.monotonic()
        for share, note, settings in sorted(steps, key=lambda s: s[0]):
            if self.stop.wait(max(0.0, began + share * window - time.monotonic())):
                return
            self.control(note, **settings)
        if not self.stop.wait(max(0.0, began + 0.6 * window + 10 - time.monotonic())):
            try:
                requests.post(f"{self.sandbox}/_control/stock", json={"SKU-OUT": 50}, timeout=5).raise_for_status()
                self.events.append("backordered stock arrived (SKU-OUT: 50)")
            except requests.RequestException:
                self.events.append("restocking SKU-OUT failed")

    def cancel_later(self, order: PlannedOrder) -> None:
        def cancel() -> None:
            body = {"name": "order-cancelled", "businessKey": order.business_key,
                    "variables": {"cancellationReason": "the customer changed their mind"}}  # fmt: skip
            try:
                with self.http() as http:
                    if http.post(f"{self.api}/messages", json=body, timeout=10).ok:
                        self.worked["cancelled"] += 1
            except requests.RequestException:
                pass

        timer = threading.Timer(order.cancel_after or 0, cancel)
        timer.daemon = True
        timer.start()


def simulate_realistic(
    base_url: str,
    token: str,
    sandbox_url: str,
    *,
    orders: int = 100,
    concurrency: int = 4,
    seed: int = 7,
    timeout: float = 600.0,
    progress: Callable[[int, str], None] | None = None,
) -> RealisticResult:
    """Start `orders` orders of the realistic mix over `concurrency` clients while people work the inbox and the
    sandbox misbehaves; wait until every order has ended (or stopped with an incident) and count the outcomes."""
    run = _Run(base_url, token, sandbox_url, seed)
    planned = [plan_order(run.rng, f"{run.prefix}{n}") for n in range(orders)]
    errors = [0]
    began = time.monotonic()
    window = max(10.0, orders / 8)  # the chaos is spread over about the time the starts take
    actors = [threading.Thread(target=run.people, daemon=True),
              threading.Thread(target=run.chaos, args=(window,), daemon=True)]  # fmt: skip
    for actor in actors:
        actor.start()

    def client(worker: int) -> None:
        with run.http() as http:
            for n in range(worker, orders, concurrency):
                order = planned[n]
                # Orders arrive spread over the window, as over a day, so the troubles meet orders in flight.
                time.sleep(max(0.0, began + n / orders * window - time.monotonic()))
                try:
                    if order.channel in ("marketplace", "edi"):  # partners send orders as messages
                        body = {"name": "order-placed", "businessKey": order.business_key,
                                "variables": order.variables}  # fmt: skip
                        response = http.post(f"{run.api}/messages", json=body, timeout=(5, 60))
                    else:
                        body = {"businessKey": order.business_key, "variables": order.variables}
                        response = http.post(f"{run.api}/process-definitions/order_management/instances",
                                             json=body, timeout=(5, 60))  # fmt: skip
                    response.raise_for_status()
                except requests.RequestException:
                    with run.lock:
                        errors[0] += 1
                    continue
                with run.lock:
                    run.started[order.business_key] = response.json().get("instanceId") or response.json()["id"]
                if order.cancel_after is not None:
                    run.cancel_later(order)

    clients = [threading.Thread(target=client, args=(w,)) for w in range(concurrency)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()

    deadline = time.monotonic() + timeout
    with run.http() as http:

        def count(status: str) -> int:
            params = {"businessKeyPrefix": run.prefix, "status": status, "perPage": 1}
            return http.get(f"{run.api}/process-instances", params=params, timeout=(5, 30)).json()["total"]

        # Operations retry incidents once the failing system is back (its circuit closes after a cool-down, 30 s by
        # default): until a while after the last trouble, an order in an incident is not counted as ended.
        incidents_final_after = began + window + INCIDENT_GRACE_SECONDS
        while time.monotonic() < deadline:
            done = count("completed") + count("cancelled")
            in_incidents = count("incident")
            final = time.monotonic() > incidents_final_after
            if final:
                done += in_incidents
            if progress is not None:
                progress(done, _waiting_for(len(run.started) - done, 0 if final else in_incidents))
            if done >= len(run.started):
                break
            time.sleep(0.5)
        run.stop.set()
        outcomes: Counter[str] = Counter()
        for instance_id in run.started.values():
            view = http.get(f"{run.api}/process-instances/{instance_id}", timeout=(5, 30)).json()
            outcomes[_outcome(view)] += 1
    # Leave the sandbox as documented: well behaved, and SKU-OUT out of stock again.
    requests.post(f"{run.sandbox}/_control/reset", timeout=5)
    requests.post(f"{run.sandbox}/_control/stock", json={"SKU-OUT": 0}, timeout=5)
    return RealisticResult(
        orders=orders,
        started=len(run.started),
        outcomes=dict(sorted(outcomes.items())),
        tasks_worked=dict(sorted(run.worked.items())),
        seconds=time.monotonic() - began,
        start_errors=errors[0],
        events=run.events,
    )


def _waiting_for(left: int, in_incidents: int) -> str:
    """What the progress bar says while it does not move: incidents wait on purpose (operations retry them once the
    failing system is back), which otherwise looks like a hang."""
    if left <= 0:
        return ""
    if in_incidents:
        return f"orders in incidents, retried once the failing system is back (at most {INCIDENT_GRACE_SECONDS} s)"
    return "orders still running"


def _outcome(view: dict[str, Any]) -> str:
    """How an order ended, in the story's words."""
    if view.get("status") == "incident":
        return "incident"
    if not view.get("endedAt"):
        return "still running"
    outcome = (view.get("variables") or {}).get("orderOutcome")
    return {"readyToShip": "shipped"}.get(outcome, outcome or view.get("status", "unknown"))
