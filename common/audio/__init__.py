"""One home for audio in and out, in process on PyAV (FFmpeg's libraries; no subprocess, no system binary).

- ``formats``: the formats we write (name, content type, muxer, codec).
- ``pcm``: s16le/float conversion and the WAV header.
- ``tempo``: ``speed`` as an atempo filter graph (tempo changes, pitch does not).
- ``writer``: one codec + muxer fed with PCM, shared by the streaming and whole-file encoders.
- ``streaming``: ``StreamEncoder``, a push encoder whose output is decodable as it arrives.
- ``whole``: whole files with exact headers and durations (Xing, STREAMINFO, granules, MP4 chapters).
- ``aio``: the async entry points (``encode_stream``, ``encode_whole``); encoding runs off the event loop.
- ``upload`` / ``decode``: untrusted reference uploads: sniffing, limits, decoding to mono 24 kHz.
- ``loudness``: BS.1770 measurement, loudness targets (ACX, EBU R128, LUFS) and the true-peak limiter.
- ``book_tags``: an audiobook's m4b tags and cover (the ``covr`` atom).
"""
