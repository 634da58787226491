"""The wire layer: what crosses a process boundary, shared by the runtime, the ingress and clients.

WebSocket frames (`protocol`), state deltas as JSON Patch (`patch`), error codes (`errors`) and
the retry backoff every reconnecting party uses (`retry`). It imports nothing of ours but
`agents.errors`, so clients can use it without Ray.
"""
