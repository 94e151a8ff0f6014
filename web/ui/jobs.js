// The audiobooks page: a text or a .txt/.md file split into chapters at its headings (titles editable), voice
// and format (m4b included); then live progress (the job's event stream when the server has one, polling
// until then), play and download each chapter and the whole book, cancel, delete, the webhook's delivery.
"use strict";

const FINISHED = new Set(["succeeded", "failed", "canceled"]);
const POLL_MS = 1000;
let pollTimer = null;
let eventsSupported = null; // null: not tried yet; false: the server has no /v1/jobs/{id}/events
const watching = new Set();

// Markdown-style headings ("# Title", "## Title") start chapters; text before the first one is untitled.
function parseChapters(text) {
  const chapters = [];
  let current = { title: null, lines: [] };
  for (const line of text.split("\n")) {
    const heading = line.match(/^#{1,3}\s+(.+?)\s*#*\s*$/);
    if (heading) {
      chapters.push(current);
      current = { title: heading[1].trim(), lines: [] };
    } else {
      current.lines.push(line);
    }
  }
  chapters.push(current);
  return chapters.map((c) => ({ title: c.title, text: c.lines.join("\n").trim() })).filter((c) => c.text);
}

function showChapters() {
  const chapters = parseChapters($("job-text").value);
  const previous = [...$("chapter-titles").querySelectorAll("input")].map((input) => input.dataset.edited && input.value);
  $("chapter-box").hidden = chapters.length === 0;
  $("chapter-count").textContent = `${chapters.length} · edit the titles as they should be announced in the book`;
  $("chapter-titles").replaceChildren(...chapters.map((chapter, i) => {
    const input = el("input", { type: "text", maxlength: "200", "aria-label": `Title of chapter ${i + 1}` });
    input.value = previous[i] || chapter.title || `Chapter ${i + 1}`;
    if (previous[i]) input.dataset.edited = "1";
    input.addEventListener("input", () => { input.dataset.edited = "1"; });
    return el("li", {}, input, el("span", { class: "hint" }, `${chapter.text.length} characters`));
  }));
}

async function fetchAudio(url) {
  return URL.createObjectURL(await (await api(url)).blob()); // with a key the request needs its header
}

function outputItem(job, output) {
  const whole = output.chapter === null;
  const label = whole ? `Whole book (${output.format})` : (output.title || `Chapter ${output.chapter + 1}`);
  const base = (job.metadata && job.metadata.title) || job.id;
  const filename = whole ? `${base}.${output.format}` : `${base} - ${output.chapter + 1}.${output.format}`;
  const audio = el("audio", { controls: "", hidden: "" });
  const link = el("a", { class: "button small", href: output.url, download: filename,
    dataset: { chapter: whole ? "all" : String(output.chapter) } }, "Download");
  link.addEventListener("click", async (event) => {
    if (!apiKey()) return; // a plain link works without a key
    event.preventDefault();
    try {
      const a = el("a", { href: await fetchAudio(output.url), download: filename });
      a.click();
    } catch (error) { say("list-message", `Download failed: ${error.message}`, "error"); }
  });
  const play = button("Play", async () => {
    try {
      audio.src = apiKey() ? await fetchAudio(output.url) : output.url;
      audio.hidden = false;
      await audio.play();
    } catch (error) { say("list-message", `Playback failed: ${error.message}`, "error"); }
  });
  const duration = output.duration_s ? ` · ${seconds(output.duration_s)}` : "";
  return el("li", { dataset: { chapter: whole ? "all" : String(output.chapter) } },
    el("span", { class: "title" }, label, el("span", { class: "hint" }, duration)), play, link, audio);
}

function seconds(value) {
  if (value < 10) return `${value.toFixed(1)} s`;
  return value < 3600 ? `${Math.floor(value / 60)}:${String(Math.round(value % 60)).padStart(2, "0")}`
    : `${Math.floor(value / 3600)} h ${Math.round((value % 3600) / 60)} min`;
}

function webhookLine(job) {
  const hook = job.webhook_delivery;
  if (!hook) return null;
  const text = hook.status === "delivered" ? `Webhook delivered${hook.last_status_code ? ` (${hook.last_status_code})` : ""}`
    : hook.status === "failed" ? `Webhook failed after ${hook.attempts} attempts${hook.last_error ? `: ${hook.last_error}` : ""}`
      : `Webhook ${hook.status}${hook.attempts ? ` (attempt ${hook.attempts})` : ""}`;
  return el("p", { class: `hint webhook ${hook.status}` }, text);
}

// While it runs: each chapter's segments done (GET /v1/jobs gives them per chapter).
function chapterProgress(job, titles) {
  if (FINISHED.has(job.status) || !(job.chapters || []).length) return null;
  return el("ul", { class: "chapters progress-list" }, ...job.chapters.map((c) => el("li", { dataset: { chapter: String(c.chapter) } },
    el("span", { class: "title" }, titles[c.chapter] || `Chapter ${c.chapter + 1}`),
    el("progress", { max: String(c.segments_total), value: String(c.segments_done), "aria-label": `Progress of chapter ${c.chapter + 1}` }),
    el("span", { class: "hint" }, c.segments_done === c.segments_total ? "done" : `${c.segments_done}/${c.segments_total}`))));
}

function jobCard(job) {
  const title = (job.metadata && job.metadata.title) || "Untitled";
  const p = job.progress;
  const chapters = (job.metadata && job.metadata.chapters) || [];
  const actions = el("div", { class: "actions" });
  if (!FINISHED.has(job.status)) {
    actions.append(button("Cancel", () => act(`/v1/jobs/${job.id}/cancel`, "POST"), "small danger"));
  } else {
    actions.append(button("Delete", () => act(`/v1/jobs/${job.id}`, "DELETE"), "small danger"));
  }
  const summary = job.status === "succeeded" ? `${seconds(p.audio_seconds)} of audio`
    : `${p.segments_done} of ${p.segments_total} segments · ${seconds(p.audio_seconds)} so far`;
  return el("li", { class: "card", dataset: { jobId: job.id, status: job.status } },
    el("header", {}, el("h3", {}, title),
      el("span", { class: `badge ${job.status}` }, job.status)),
    el("p", { class: "hint" }, `${when(job.created_at)} · ${job.response_format} · ${chapters.length || 1} chapter${chapters.length > 1 ? "s" : ""} · ${summary}`),
    FINISHED.has(job.status) ? null : el("progress", { max: String(p.segments_total), value: String(p.segments_done), "aria-label": `Progress of ${title}` }),
    job.error ? el("p", { class: "message error" }, job.error.message) : null,
    job.outputs.length ? el("ul", { class: "chapters" }, ...job.outputs.map((o) => outputItem(job, o)))
      : chapterProgress(job, chapters),
    webhookLine(job),
    actions);
}

async function act(path, method) {
  try {
    await api(path, { method });
  } catch (error) {
    say("list-message", error.message, "error");
  }
  await refresh();
}

// The job's event stream (Server-Sent Events over fetch, so the API key header goes with it): any event
// means "something changed", the list is reloaded. A 404/405 means the server has none: poll instead.
async function watch(jobId) {
  if (watching.has(jobId)) return;
  watching.add(jobId);
  try {
    const response = await fetch(`/v1/jobs/${jobId}/events`, { headers: headers({ Accept: "text/event-stream" }) });
    if (response.status === 404 || response.status === 405 || !response.ok) {
      if (response.status === 404 || response.status === 405) eventsSupported = false;
      return schedulePoll();
    }
    eventsSupported = true;
    $("live").textContent = "· live";
    const reader = response.body.getReader();
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
      scheduleRefresh();
    }
  } catch (_) {
    schedulePoll();
  } finally {
    watching.delete(jobId);
    scheduleRefresh();
  }
}

let refreshTimer = null;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 150);
}

function schedulePoll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(refresh, POLL_MS);
}

async function refresh() {
  clearTimeout(pollTimer);
  try {
    const page = await (await api("/v1/jobs?limit=50")).json();
    // a card is rebuilt only when its job changed: a chapter playing in an unchanged card keeps playing
    const previous = new Map([...$("jobs").children].map((node) => [node.dataset.jobId, node]));
    $("jobs").replaceChildren(...page.data.map((job) => {
      const state = JSON.stringify(job);
      const node = previous.get(job.id);
      if (node && node.dataset.state === state) return node;
      const fresh = jobCard(job);
      fresh.dataset.state = state;
      return fresh;
    }));
    $("jobs-empty").hidden = page.data.length > 0;
    $("jobs").dataset.refreshes = String(Number($("jobs").dataset.refreshes || 0) + 1); // for tests to wait on
    say("list-message", "");
    const running = page.data.filter((job) => !FINISHED.has(job.status));
    // a webhook is sent after its job ends: poll until each pending delivery is settled
    const sending = page.data.some((job) => job.webhook_delivery && job.webhook_delivery.status === "pending");
    if (!running.length) { if (sending) schedulePoll(); return; }
    if (eventsSupported === false) { $("live").textContent = "· updating every second"; schedulePoll(); return; }
    running.forEach((job) => watch(job.id));
  } catch (error) {
    say("list-message", `Could not list jobs: ${error.message}`, "error");
  }
}

async function submit(event) {
  event.preventDefault();
  const chapters = parseChapters($("job-text").value);
  if (!chapters.length) { $("job-text").focus(); return say("status", "Paste a text or load a file first.", "error"); }
  const titles = [...$("chapter-titles").querySelectorAll("input")].map((input) => input.value.trim());
  chapters.forEach((chapter, i) => { chapter.title = titles[i] || chapter.title || null; });
  const title = $("job-title").value.trim() || chapters[0].title || chapters[0].text.slice(0, 40);
  const body = {
    voice: $("job-voice").value || "alloy", response_format: $("job-format").value, chapters,
    metadata: { title, chapters: chapters.map((c) => c.title) },
  };
  if ($("job-callback").value.trim()) body.callback_url = $("job-callback").value.trim();
  $("submit-job").disabled = true;
  try {
    const job = await (await api("/v1/jobs", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    })).json();
    say("status", `"${title}" submitted: ${chapters.length} chapter${chapters.length > 1 ? "s" : ""}, ${job.progress.segments_total} segments.`, "ok");
    $("status").dataset.jobId = job.id;
    await refresh();
  } catch (error) {
    say("status", `Could not create the audiobook: ${error.message}`, "error");
  } finally {
    $("submit-job").disabled = false;
  }
}

async function loadFile() {
  const file = $("job-file").files[0];
  if (!file) return;
  $("job-text").value = await file.text();
  if (!$("job-title").value) $("job-title").value = file.name.replace(/\.(txt|md|markdown)$/i, "");
  showChapters();
}

async function loadVoices() {
  try { fillVoiceSelect($("job-voice"), await voiceChoices(), { design: false }); } catch (_) { /* listed below */ }
}

$("job-form").addEventListener("submit", submit);
$("job-file").addEventListener("change", () => loadFile().catch((e) => say("status", e.message, "error")));
$("job-text").addEventListener("input", showChapters);
setupKey(() => { loadVoices(); refresh(); });
loadVoices();
refresh();
