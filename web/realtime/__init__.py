"""``WS /v1/audio/speech/stream``: text in as it is written, audio out sentence by sentence.

vLLM-Omni's protocol (so its clients, LiveKit's plugin among them, work unmodified): ``protocol`` holds the
messages, ``session_setup`` turns a ``session.config`` into a validated voice + model (the same planning as
``POST /v1/audio/speech``), ``turn`` runs one turn's sentences in order through the dispatcher, ``session``
is the connection's state machine and ``endpoint`` the route with its authentication. See docs/realtime.md.
"""
