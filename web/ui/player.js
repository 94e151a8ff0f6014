// Streamed playback of /v1/audio/speech while it is generated: 24 kHz s16le PCM scheduled gaplessly through
// Web Audio, or mp3 through MediaSource. Both measure time to first audio and the real-time factor
// (generation time / audio duration) and count what was played on window.audioStats, so a test can tell the
// browser really received samples.
"use strict";

const SAMPLE_RATE = 24000;
window.audioStats = { samples: 0, bytes: 0, chunks: 0, state: "idle" };

// Mirrored on <body data-audio-*> so a test reads it without evaluating script (the CSP has no unsafe-eval).
function publish(stats) {
  Object.assign(document.body.dataset, {
    audioSamples: String(stats.samples), audioBytes: String(stats.bytes), audioChunks: String(stats.chunks),
    audioState: stats.state, audioContext: stats.context || "",
  });
}

function wavFile(chunks, totalBytes) {
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, s) => [...s].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); header.setUint32(4, 36 + totalBytes, true); text(8, "WAVE"); text(12, "fmt ");
  header.setUint32(16, 16, true); header.setUint16(20, 1, true); header.setUint16(22, 1, true);
  header.setUint32(24, SAMPLE_RATE, true); header.setUint32(28, SAMPLE_RATE * 2, true);
  header.setUint16(32, 2, true); header.setUint16(34, 16, true); text(36, "data");
  header.setUint32(40, totalBytes, true);
  return new Blob([header, ...chunks], { type: "audio/wav" });
}

// POST the speech request and play PCM as it arrives; resolves to {blob (wav), seconds, ttfa, rtf}.
async function playPcmStream(body, onProgress = () => {}) {
  const stats = window.audioStats;
  Object.assign(stats, { samples: 0, bytes: 0, chunks: 0, state: "requesting" });
  const context = new AudioContext({ sampleRate: SAMPLE_RATE });
  const started = performance.now();
  let ttfa = null;
  let playAt = context.currentTime + 0.05;
  let carry = new Uint8Array(0); // an odd trailing byte waits for the next chunk
  const chunks = [];
  const response = await api("/v1/audio/speech", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, response_format: "pcm", stream: true }),
  });
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const bytes = new Uint8Array(carry.length + value.length);
    bytes.set(carry);
    bytes.set(value, carry.length);
    const usable = bytes.length - (bytes.length % 2);
    carry = bytes.slice(usable);
    if (usable === 0) continue;
    if (ttfa === null) ttfa = (performance.now() - started) / 1000;
    const pcm = new Int16Array(bytes.buffer, 0, usable / 2);
    chunks.push(bytes.slice(0, usable));
    const buffer = context.createBuffer(1, pcm.length, SAMPLE_RATE);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    playAt = Math.max(playAt, context.currentTime);
    source.start(playAt);
    playAt += buffer.duration;
    stats.samples += pcm.length;
    stats.bytes += usable;
    stats.chunks += 1;
    stats.state = context.state === "running" ? "playing" : context.state;
    publish(stats);
    onProgress(stats.samples / SAMPLE_RATE, ttfa);
  }
  const seconds = stats.samples / SAMPLE_RATE;
  const elapsed = (performance.now() - started) / 1000;
  stats.state = "done";
  stats.context = context.state; // "running": Web Audio was playing what arrived
  publish(stats);
  return { blob: wavFile(chunks, stats.bytes), seconds, ttfa, rtf: seconds ? elapsed / seconds : null };
}

// mp3 through MediaSource into `audio` as it arrives; other formats (and browsers without MSE for mp3)
// are fetched whole and then played.
async function playEncoded(body, audio, onProgress = () => {}) {
  const stats = window.audioStats;
  Object.assign(stats, { samples: 0, bytes: 0, chunks: 0, state: "requesting" });
  const started = performance.now();
  const streamed = body.response_format === "mp3" && window.MediaSource && MediaSource.isTypeSupported("audio/mpeg");
  const response = await api("/v1/audio/speech", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, stream: streamed }),
  });
  const parts = [];
  let ttfa = null;
  if (streamed) {
    const source = new MediaSource();
    audio.src = URL.createObjectURL(source);
    await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
    const buffer = source.addSourceBuffer("audio/mpeg");
    const appended = () => new Promise((resolve) => buffer.addEventListener("updateend", resolve, { once: true }));
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (ttfa === null) { ttfa = (performance.now() - started) / 1000; audio.play().catch(() => {}); }
      parts.push(value);
      stats.bytes += value.length;
      stats.chunks += 1;
      buffer.appendBuffer(value);
      await appended();
      publish(stats);
      onProgress(buffer.buffered.length ? buffer.buffered.end(0) : 0, ttfa);
    }
    source.endOfStream();
  } else {
    parts.push(new Uint8Array(await response.arrayBuffer()));
    ttfa = (performance.now() - started) / 1000;
    stats.bytes = parts[0].length;
    stats.chunks = 1;
  }
  const blob = new Blob(parts, { type: response.headers.get("content-type") || "application/octet-stream" });
  if (!streamed) { audio.src = URL.createObjectURL(blob); audio.play().catch(() => {}); }
  const seconds = await new Promise((resolve) => {
    if (Number.isFinite(audio.duration)) resolve(audio.duration);
    else audio.addEventListener("loadedmetadata", () => resolve(audio.duration), { once: true });
    setTimeout(() => resolve(NaN), 3000);
  });
  const elapsed = (performance.now() - started) / 1000;
  stats.state = "done";
  stats.context = audio.paused ? "paused" : "playing";
  publish(stats);
  return { blob, seconds, ttfa, rtf: seconds ? elapsed / seconds : null };
}
