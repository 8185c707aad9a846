"""Ending a session and telling the PSA: resolve and escalate (``closing``; ``close_record`` is what a close writes on the session, shared with the outbox), the durable outbox that posts a
note exactly once and verifies the status change by reading the ticket back (``writeback``), PSA connections
(``psa``), the engineer's ticket queue and sessions started from a ticket (``tickets``), and interim updates
to a ticket (``updates``).
"""
