// The voice library page: list, upload (file or microphone), edit the transcript, delete, and preview a
// text in a voice with streamed playback (fetch of 24 kHz s16le PCM → Web Audio, scheduled gaplessly).
"use strict";

const SAMPLE_RATE = 24000;
let recorded = null; // a Blob from the microphone, used when no file is chosen
let nextCursor = null;

function cell(row, content) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content); else td.textContent = content;
  return td;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function voiceRow(voice) {
  const row = document.createElement("tr");
  row.dataset.voiceId = voice.id;
  row.dataset.voiceName = voice.name;
  cell(row, voice.name);
  const transcript = document.createElement("textarea");
  transcript.value = voice.ref_text || "";
  transcript.className = "transcript";
  cell(row, transcript);
  cell(row, `${voice.duration_s.toFixed(1)} s`);
  cell(row, document.createElement("span")).append(
    button("Save transcript", () => saveTranscript(voice, transcript.value)),
    button("Preview", () => preview(voice)),
    button("Delete", () => removeVoice(voice)),
  );
  return row;
}

async function loadVoices(append = false) {
  const params = new URLSearchParams({ limit: "50" });
  const filter = $("filter").value.trim();
  if (filter) params.set("name", filter);
  if (append && nextCursor) params.set("after", nextCursor);
  try {
    const page = await (await api(`/v1/voices?${params}`)).json();
    if (!append) $("voices").replaceChildren();
    for (const voice of page.data) $("voices").append(voiceRow(voice));
    nextCursor = page.next_cursor;
    $("more").hidden = !page.has_more;
  } catch (error) {
    setStatus(`Could not list voices: ${error.message}`, true);
  }
}

async function upload(event) {
  event.preventDefault();
  const form = new FormData();
  form.set("name", $("voice-name").value);
  form.set("ref_text", $("voice-text").value);
  form.set("language", $("voice-language").value || "auto");
  const file = $("voice-file").files[0];
  if (file) form.set("file", file);
  else if (recorded) form.set("file", recorded, `recording.${recorded.type.includes("ogg") ? "ogg" : "webm"}`);
  else return setStatus("Choose an audio file or record one first.", true);
  setStatus("Uploading…");
  try {
    const voice = await (await api("/v1/voices", { method: "POST", body: form })).json();
    setStatus(`Saved "${voice.name}" (${voice.duration_s.toFixed(1)} s).`);
    $("upload-form").reset();
    recorded = null;
    $("recording").textContent = "";
    await loadVoices();
  } catch (error) {
    setStatus(`Upload failed: ${error.message}`, true);
  }
}

async function saveTranscript(voice, text) {
  try {
    const body = JSON.stringify({ ref_text: text, x_vector_only: !text.trim() });
    await api(`/v1/voices/${voice.id}`, {
      method: "PATCH", body, headers: { "Content-Type": "application/json" },
    });
    setStatus(`Transcript of "${voice.name}" saved.`);
  } catch (error) {
    setStatus(`Saving failed: ${error.message}`, true);
  }
}

async function removeVoice(voice) {
  if (!window.confirm(`Delete the voice "${voice.name}"?`)) return;
  try {
    await api(`/v1/voices/${voice.id}`, { method: "DELETE" });
    setStatus(`Deleted "${voice.name}".`);
    await loadVoices();
  } catch (error) {
    setStatus(`Delete failed: ${error.message}`, true);
  }
}

// Streamed playback: every chunk of PCM is scheduled right after the previous one, as it arrives.
async function preview(voice) {
  const status = $("status");
  const context = new AudioContext({ sampleRate: SAMPLE_RATE });
  let playAt = context.currentTime + 0.1;
  let carry = new Uint8Array(0); // an odd trailing byte waits for the next chunk
  let received = 0;
  status.dataset.bytes = "0";
  status.dataset.state = "requesting";
  setStatus(`Synthesizing with "${voice.name}"…`);
  try {
    const response = await api("/v1/audio/speech", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: "tts-1", voice: `clone:${voice.name}`, input: $("preview-text").value,
        response_format: "pcm", stream: true,
      }),
    });
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.length;
      const bytes = new Uint8Array(carry.length + value.length);
      bytes.set(carry);
      bytes.set(value, carry.length);
      const usable = bytes.length - (bytes.length % 2);
      carry = bytes.slice(usable);
      if (usable === 0) continue;
      const pcm = new Int16Array(bytes.buffer, 0, usable / 2);
      const buffer = context.createBuffer(1, pcm.length, SAMPLE_RATE);
      const channel = buffer.getChannelData(0);
      for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(context.destination);
      playAt = Math.max(playAt, context.currentTime);
      source.start(playAt);
      playAt += buffer.duration;
      status.dataset.bytes = String(received);
      status.dataset.state = "playing";
    }
    status.dataset.audio = context.state; // "running": Web Audio is playing what arrived
    status.dataset.state = "done";
    setStatus(`Preview of "${voice.name}": ${(received / 2 / SAMPLE_RATE).toFixed(1)} s of audio streamed.`);
  } catch (error) {
    status.dataset.state = "error";
    setStatus(`Preview failed: ${error.message}`, true);
  }
}

async function toggleRecording() {
  const recordButton = $("record");
  if (recordButton.recorder) {
    recordButton.recorder.stop();
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream);
    const parts = [];
    recorder.addEventListener("dataavailable", (e) => parts.push(e.data));
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      recorded = new Blob(parts, { type: recorder.mimeType || "audio/webm" });
      recordButton.recorder = null;
      recordButton.textContent = "Record from microphone";
      $("recording").textContent = `Recorded ${(recorded.size / 1024).toFixed(0)} KiB; it is used unless a file is chosen.`;
    });
    recorder.start();
    recordButton.recorder = recorder;
    recordButton.textContent = "Stop recording";
    $("recording").textContent = "Recording…";
  } catch (error) {
    setStatus(`Microphone unavailable: ${error.message}`, true);
  }
}

let filterTimer = null;
$("upload-form").addEventListener("submit", upload);
$("record").addEventListener("click", toggleRecording);
$("more").addEventListener("click", () => loadVoices(true));
$("filter").addEventListener("input", () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => loadVoices(), 250);
});
$("api-key").value = localStorage.getItem("qwen3-tts-api-key") || "";
$("api-key").addEventListener("change", () => {
  localStorage.setItem("qwen3-tts-api-key", $("api-key").value.trim());
  loadVoices();
});
loadVoices();
