"""Locust load for `myna-hil oqs serve`, for runs that need more than one load machine.

The requests are the ones `myna-hil bench` sends, written by it with --dump-requests (one
`PATH<TAB>KIND<TAB>JSON` line each; checks are signed over challenges of that very server, so
start it with --reusable-challenges and dump against it):

    myna-hil oqs serve --synthetic 1000000 --seed 1 --reusable-challenges --listen 0.0.0.0:8931
    myna-hil bench --workload check --target http://HOST:8931 --registry-size 1000000 \
        --seed 1 --mix valid=9,not_found=1 --dump-requests check.tsv
    MYNA_HIL_REQUESTS=check.tsv locust -f benches/locust/locustfile.py --host http://HOST:8931

Each answer is judged as the bench judges it (KIND is the outcome the request was built to
provoke); a wrong answer is a Locust failure. Copy the TSV file to every worker machine.
"""

import json
import os
import random

from locust import FastHttpUser, constant, task

VALIDITY_VALID = "1"
VALIDITY_NONE = "4"


def load_requests(path):
    requests = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            parts = line.rstrip("\n").split("\t", 2)
            if len(parts) == 3:
                requests.append((parts[0], parts[1], parts[2].encode("utf-8")))
    if not requests:
        raise SystemExit(f"{path}: no PATH<TAB>KIND<TAB>JSON lines (myna-hil bench --dump-requests)")
    return requests


REQUESTS = load_requests(os.environ.get("MYNA_HIL_REQUESTS", "requests.tsv"))


def verdict(path, kind, status, body):
    """None when the answer is the expected one, else why not."""
    if kind == "invalid":
        return None if status == 422 else f"expected 422, got {status}"
    if status != 200:
        return f"status {status}"
    answer = json.loads(body)
    outcome = answer.get("outcome")
    validity = answer.get("MessageBody", {}).get("QualificationValidity")
    by_card = path == "/v1/check"
    expected = {
        "valid": outcome == "answered" and validity == VALIDITY_VALID,
        "not_found": outcome == "card_not_registered"
        if by_card
        else outcome == "answered" and validity == VALIDITY_NONE,
        "expired": outcome == "certificate_expired",
        "bad_signature": outcome == "signature_invalid",
    }.get(kind, False)
    return None if expected else f"{kind}: got {outcome} / {validity}"


class Terminal(FastHttpUser):
    """One reception terminal: sends the next request as soon as the last is answered."""

    wait_time = constant(0)

    def on_start(self):
        self.next = random.randrange(len(REQUESTS))

    @task
    def send(self):
        path, kind, body = REQUESTS[self.next]
        self.next = (self.next + 1) % len(REQUESTS)
        with self.client.post(
            path,
            data=body,
            headers={"Content-Type": "application/json"},
            name=f"{path} ({kind})",
            catch_response=True,
        ) as response:
            problem = verdict(path, kind, response.status_code, response.content)
            if problem is None:
                response.success()
            else:
                response.failure(problem)
