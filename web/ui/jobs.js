// The jobs page: submit a long text (chapters from "# Title" lines), watch progress, download the audio
// (whole and per chapter), cancel or delete. Polls /v1/jobs while any job is unfinished.
"use strict";

const FINISHED = new Set(["succeeded", "failed", "canceled"]);
const POLL_MS = 1000;
let pollTimer = null;

// "# Title" lines start chapters; text before the first one is an untitled chapter.
function parseChapters(text) {
  const chapters = [];
  let current = { title: null, lines: [] };
  for (const line of text.split("\n")) {
    const heading = line.match(/^#\s+(.+)$/);
    if (heading) {
      if (current.lines.join("").trim() || current.title) chapters.push(current);
      current = { title: heading[1].trim(), lines: [] };
    } else {
      current.lines.push(line);
    }
  }
  chapters.push(current);
  return chapters
    .map((c) => ({ title: c.title, text: c.lines.join("\n").trim() }))
    .filter((c) => c.text);
}

async function download(output, filename) {
  // a link works without a key; with one, the request must carry the Authorization header
  if (!$("api-key").value.trim()) { window.location.href = output.url; return; }
  const blob = await (await api(output.url)).blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

function downloads(job) {
  const span = document.createElement("span");
  span.className = "downloads";
  for (const output of job.outputs) {
    const label = output.chapter === null ? `Whole (${output.format})`
      : (output.title || `Chapter ${output.chapter + 1}`);
    const filename = output.chapter === null ? `${job.id}.${output.format}`
      : `${job.id}-chapter-${output.chapter + 1}.${output.format}`;
    const link = document.createElement("a");
    link.href = output.url;
    link.textContent = label;
    link.download = filename;
    link.dataset.chapter = output.chapter === null ? "all" : String(output.chapter);
    link.addEventListener("click", (event) => {
      event.preventDefault();
      download(output, filename).catch((e) => setStatus(e.message, true));
    });
    span.append(link);
  }
  return span;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", () => onClick().catch((e) => setStatus(e.message, true)));
  return b;
}

function jobRow(job) {
  const row = document.createElement("tr");
  row.dataset.jobId = job.id;
  row.dataset.status = job.status;
  const title = document.createElement("code");
  title.textContent = job.id;
  row.insertCell().append(title);
  const status = row.insertCell();
  status.className = "job-status";
  status.textContent = job.status + (job.error ? `: ${job.error.message}` : "");
  if (job.status === "failed") status.classList.add("failed");
  const bar = document.createElement("progress");
  bar.max = job.progress.segments_total;
  bar.value = job.progress.segments_done;
  const label = document.createElement("span");
  label.className = "muted";
  label.textContent = ` ${job.progress.segments_done}/${job.progress.segments_total}`;
  row.insertCell().append(bar, label);
  row.insertCell().textContent = `${job.progress.audio_seconds.toFixed(1)} s`;
  const actions = row.insertCell();
  if (job.status === "succeeded") actions.append(downloads(job));
  if (!FINISHED.has(job.status)) {
    actions.append(button("Cancel", async () => { await api(`/v1/jobs/${job.id}/cancel`, { method: "POST" }); await refresh(); }));
  } else {
    actions.append(button("Delete", async () => { await api(`/v1/jobs/${job.id}`, { method: "DELETE" }); await refresh(); }));
  }
  return row;
}

async function refresh() {
  clearTimeout(pollTimer);
  try {
    const page = await (await api("/v1/jobs?limit=50")).json();
    $("jobs").replaceChildren(...page.data.map(jobRow));
    if (page.data.some((job) => !FINISHED.has(job.status))) pollTimer = setTimeout(refresh, POLL_MS);
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function submit(event) {
  event.preventDefault();
  const chapters = parseChapters($("job-text").value);
  if (!chapters.length) { setStatus("Type some text first.", true); return; }
  const body = { voice: $("job-voice").value.trim() || "alloy", response_format: $("job-format").value, chapters };
  try {
    const job = await (await api("/v1/jobs", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    })).json();
    setStatus(`Job ${job.id} submitted: ${job.progress.segments_total} segments.`);
    await refresh();
  } catch (e) {
    setStatus(e.message, true);
  }
}

$("api-key").value = localStorage.getItem("qwen3-tts-api-key") || "";
$("api-key").addEventListener("change", () => {
  localStorage.setItem("qwen3-tts-api-key", $("api-key").value.trim());
  refresh();
});
$("job-form").addEventListener("submit", submit);
refresh();
