"""Team memory: what the team's past sessions know, brought back when the same problem walks in again.

The search index over every session's text and its rebuild (``index``); ranked full-text search (``search``);
"seen before", the few closed sessions most like a live one (``similar``) and the matches kept per session with
their dismissals (``seen_before``); the team's figures over time (``stats``). It reads the store's rows only:
nothing here imports a capability above the session's state.
"""
