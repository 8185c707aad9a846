"""The troubleshooting engine: one chat turn (``chat``), the request's context budget and rolling summary
(``context_budget``), the marker protocol of the model's replies (``markers``) and showing a reply while it
streams without its markers (``streaming``). What is sent to a model and the providers live in ``core.llm``.
"""
