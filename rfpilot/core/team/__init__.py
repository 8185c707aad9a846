"""Working a ticket as a team: parking and escalating into the team queue and claiming from it
(``handoffs``), and the documents drafted when a session is resolved (``outputs``).
"""
