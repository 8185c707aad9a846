"""A session's diagnostic state and the rules that guard it.

The session row and its status machine (``sessions``); "What we know" (``facts``); the task lane's questions
and checks (``lane``); suggested fixes and their verification (``fixes``); promoting an answer or a check's
output to a fact (``synthesis``); branching hypotheses (``branches``); who may change a session at all
(``permissions``: the one ownership and lifecycle rule every mutation goes through) and the team-queue step
every resume, close and abandon takes (``handoff_lock``); which sessions a teammate changed, for views that follow
the store (``live``).
"""
