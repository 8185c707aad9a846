"""What a session says when it ends: resolution notes and escalation packages built from structured state, with
the offline drafter (``notes``), and their previews, cached by state version and drafter (``previews``).
"""
