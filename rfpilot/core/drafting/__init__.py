"""What a session says about itself: resolution notes and escalation packages built from structured state
(``notes``), their cached previews (``previews``) and the whole-session export (``export``).
"""
