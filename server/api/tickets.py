"""Event-stream tickets: a browser's EventSource cannot send an Authorization header, and a token
in a URL lands in proxy and access logs. So an authenticated request (POST /api/jobs/{id}/ticket)
gets a ticket instead: good for one job's events, for TICKET_S seconds, signed (HMAC-SHA256) with
the data dir's key. A logged ticket is worth little: one job's progress, for a minute.
"""
import base64
import hashlib
import hmac
import json
import time

from ..store.people import Person

TICKET_S = 60


class Tickets:
    def __init__(self, key: bytes):
        self.key = key

    def issue(self, job_id: str, person: Person) -> str:
        body = base64.urlsafe_b64encode(json.dumps([job_id, person.name, person.admin,
                                                    round(time.time()) + TICKET_S]).encode()).decode()
        return f"{body}.{self._sign(body)}"

    def check(self, ticket: str, job_id: str) -> Person | None:
        """The person the ticket was issued to, when it is this job's and still valid; else None."""
        body, _, signature = ticket.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):   # bytes: any text compares
            return None
        try:
            ticket_job, name, admin, expires = json.loads(base64.urlsafe_b64decode(body))
        except ValueError:
            return None
        return Person(name, admin) if ticket_job == job_id and time.time() < expires else None

    def _sign(self, body: str) -> str:
        return hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
