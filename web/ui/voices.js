// The voice library page: add a voice from a dropped file or the microphone (level meter, duration counter,
// preview before saving, consent), search, rename and edit the transcript, preview (streamed playback), delete.
"use strict";

let recorded = null; // a Blob from the microphone, used when no file is chosen
let nextCursor = null;

function showTake(blob, description) {
  if ($("take-audio").src) URL.revokeObjectURL($("take-audio").src);
  $("take-audio").src = URL.createObjectURL(blob);
  $("take").hidden = false;
  $("recording").textContent = description;
}

function chooseFile(file) {
  if (!file) return;
  recorded = null;
  showTake(file, `Chosen: ${file.name} (${(file.size / 1024).toFixed(0)} KiB).`);
  if (!$("voice-name").value) $("voice-name").value = file.name.replace(/\.[^.]+$/, "").slice(0, 100);
}

function voiceCard(voice) {
  const transcript = el("textarea", { class: "transcript", "aria-label": `Transcript of ${voice.name}` });
  transcript.value = voice.ref_text || "";
  const rename = el("input", { type: "text", class: "rename", maxlength: "100", "aria-label": `Name of ${voice.name}` });
  rename.value = voice.name;
  const message = el("p", { class: "message", role: "status" });
  return el("li", { class: "card", dataset: { voiceId: voice.id, voiceName: voice.name } },
    el("header", {}, el("h3", {}, voice.name),
      el("span", { class: "muted" }, `${voice.duration_s.toFixed(1)} s · ${voice.language || "auto"} · ${when(voice.created_at)}`)),
    rename, transcript,
    el("div", { class: "actions" },
      button("Preview", () => preview(voice, message)),
      button("Save changes", () => saveChanges(voice, rename.value.trim(), transcript.value, message)),
      el("a", { class: "button small", href: `/ui?voice=${encodeURIComponent(`clone:${voice.name}`)}` }, "Use in playground"),
      button("Delete", () => removeVoice(voice, message), "small danger")),
    message);
}

async function loadVoices(append = false) {
  const params = new URLSearchParams({ limit: "50" });
  const filter = $("filter").value.trim();
  if (filter) params.set("name", filter);
  if (append && nextCursor) params.set("after", nextCursor);
  try {
    const page = await (await api(`/v1/voices?${params}`)).json();
    if (!append) $("voices").replaceChildren();
    for (const voice of page.data) $("voices").append(voiceCard(voice));
    $("voices").dataset.filter = filter; // what the list shows (a test waits for its search to apply)
    nextCursor = page.next_cursor;
    $("more").hidden = !page.has_more;
    const empty = !$("voices").children.length;
    $("voices-empty").hidden = !empty;
    $("voices-empty").textContent = filter ? `No voice matches "${filter}".`
      : "No saved voices yet. Drop a recording on the left, or record one.";
    say("status", "");
  } catch (error) {
    say("status", `Could not list voices: ${error.message}`, "error");
  }
}

async function upload(event) {
  event.preventDefault();
  const form = new FormData();
  const name = $("voice-name").value.trim();
  const file = $("voice-file").files[0];
  if (file) form.set("file", file);
  else if (recorded) form.set("file", recorded, `recording.${recorded.type.includes("ogg") ? "ogg" : "webm"}`);
  else return say("upload-message", "Choose an audio file or record one first.", "error");
  if (!name) { $("voice-name").focus(); return say("upload-message", "Give the voice a name.", "error"); }
  if (!$("consent").checked) {
    $("consent").focus();
    return say("upload-message", "Confirm that you may clone this voice.", "error");
  }
  form.set("name", name);
  form.set("ref_text", $("voice-text").value);
  form.set("language", $("voice-language").value || "auto");
  say("upload-message", "Uploading…");
  $("save").disabled = true;
  try {
    const voice = await (await api("/v1/voices", { method: "POST", body: form })).json();
    say("upload-message", `Saved "${voice.name}" (${voice.duration_s.toFixed(1)} s).`, "ok");
    $("upload-form").reset();
    recorded = null;
    $("take").hidden = true;
    $("recording").textContent = "";
    await loadVoices();
  } catch (error) {
    say("upload-message", `Upload failed: ${error.message}`, "error");
  } finally {
    $("save").disabled = false;
  }
}

// The name and the transcript (an empty transcript clones from the timbre only).
async function saveChanges(voice, name, text, message) {
  if (!name) return say(message, "A voice needs a name.", "error");
  try {
    const body = JSON.stringify({ name, ref_text: text, x_vector_only: !text.trim() });
    await api(`/v1/voices/${voice.id}`, { method: "PATCH", body, headers: { "Content-Type": "application/json" } });
    if (name !== voice.name) { await loadVoices(); say("status", `Renamed "${voice.name}" to "${name}".`, "ok"); return; }
    say(message, "Changes saved.", "ok");
  } catch (error) {
    say(message, `Saving failed: ${error.message}`, "error");
  }
}

async function removeVoice(voice, message) {
  if (!window.confirm(`Delete the voice "${voice.name}"? This cannot be undone.`)) return;
  try {
    await api(`/v1/voices/${voice.id}`, { method: "DELETE" });
    say("status", `Deleted "${voice.name}".`, "ok");
    await loadVoices();
  } catch (error) {
    say(message, `Delete failed: ${error.message}`, "error");
  }
}

async function preview(voice, message) {
  say(message, "Synthesizing…");
  try {
    const result = await playPcmStream({ model: "tts-1", voice: `clone:${voice.name}`, input: $("preview-text").value });
    say(message, `Played ${result.seconds.toFixed(1)} s; first audio after ${Math.round(result.ttfa * 1000)} ms.`, "ok");
  } catch (error) {
    window.audioStats.state = "error";
    publish(window.audioStats);
    say(message, `Preview failed: ${error.message}`, "error");
  }
}

// The microphone: MediaRecorder for the take, an AnalyserNode for the level meter, a clock for its length.
async function toggleRecording() {
  const recordButton = $("record");
  if (recordButton.recorder) { recordButton.recorder.stop(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream);
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const started = performance.now();
    const tick = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      $("level").value = Math.min(1, Math.sqrt(samples.reduce((s, x) => s + x * x, 0) / samples.length) * 4);
      const seconds = Math.floor((performance.now() - started) / 1000);
      $("clock").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    }, 100);
    const parts = [];
    recorder.addEventListener("dataavailable", (e) => parts.push(e.data));
    recorder.addEventListener("stop", () => {
      clearInterval(tick);
      context.close();
      stream.getTracks().forEach((track) => track.stop());
      $("level").value = 0;
      recorded = new Blob(parts, { type: recorder.mimeType || "audio/webm" });
      $("voice-file").value = "";
      recordButton.recorder = null;
      recordButton.textContent = "Record again";
      recordButton.classList.remove("danger");
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      showTake(recorded, `Recorded ${seconds} s (${(recorded.size / 1024).toFixed(0)} KiB): listen, then save.`);
    });
    recorder.start();
    recordButton.recorder = recorder;
    recordButton.textContent = "Stop recording";
    recordButton.classList.add("danger");
    $("recording").textContent = "Recording… speak now.";
  } catch (error) {
    say("upload-message", `Microphone unavailable: ${error.message}`, "error");
  }
}

const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (!event.dataTransfer.files.length) return;
  $("voice-file").files = event.dataTransfer.files;
  chooseFile($("voice-file").files[0]);
});
$("voice-file").addEventListener("change", () => chooseFile($("voice-file").files[0]));
$("upload-form").addEventListener("submit", upload);
$("record").addEventListener("click", toggleRecording);
$("more").addEventListener("click", () => loadVoices(true));
let filterTimer = null;
$("filter").addEventListener("input", () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => loadVoices(), 250);
});
setupKey(() => loadVoices());
loadVoices();
