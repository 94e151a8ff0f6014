// Shared by the web pages: element lookup, the API key (remembered for the tab), messages shown next to what
// caused them, API calls that turn the OpenAI error envelope into an Error, and the voice choices.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "qwen3-tts-api-key";
const messageBoxes = new Set(); // every box that showed an error: a new API key clears them (stale errors)

function apiKey() {
  return ($("api-key") && $("api-key").value.trim()) || "";
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

// A message in `box` (an element or its id); an error is scrolled into view so it is never below the fold.
function say(box, text, kind = "") {
  const element = typeof box === "string" ? $(box) : box;
  element.textContent = text;
  element.classList.toggle("error", kind === "error");
  element.classList.toggle("ok", kind === "ok");
  if (kind === "error") {
    messageBoxes.add(element);
    element.setAttribute("role", "alert");
    element.scrollIntoView({ block: "center" });
  } else {
    element.setAttribute("role", "status");
  }
}

function clearErrors() {
  for (const box of messageBoxes) if (box.classList.contains("error")) say(box, "");
  messageBoxes.clear();
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function button(label, onClick, className = "small") {
  return el("button", { type: "button", class: className, onclick: onClick }, label);
}

function when(iso) {
  const date = new Date(typeof iso === "number" ? iso * 1000 : iso); // voices: epoch seconds; jobs: ISO
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? `today ${date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`
    : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

// The voices a request may name: built-in speakers (OpenAI aliases shown), saved clones, VoiceDesign models.
async function voiceChoices() {
  const [listing, models] = await Promise.all([
    api("/v1/audio/voices").then((r) => r.json()),
    api("/v1/models").then((r) => r.json()).catch(() => ({ data: [] })),
  ]);
  const builtin = listing.voices.filter((v) => !v.id.startsWith("clone:"));
  const saved = listing.voices.filter((v) => v.id.startsWith("clone:"));
  const designers = models.data.map((m) => m.id).filter((id) => /voicedesign/i.test(id));
  return { builtin, saved, designers };
}

// Fill a <select> with the choices; VoiceDesign entries carry data-model (the request's model).
function fillVoiceSelect(select, choices, { design = true } = {}) {
  const previous = select.value;
  const group = (label, items) => el("optgroup", { label }, ...items);
  const groups = [
    group("Built-in speakers", choices.builtin.map((v) => el("option", { value: v.id }, v.name))),
  ];
  if (choices.saved.length) {
    groups.push(group("Saved voices", choices.saved.map((v) => el("option", { value: v.id }, v.name))));
  }
  if (design && choices.designers.length) {
    groups.push(group("Design a voice", choices.designers.map((m) =>
      el("option", { value: `design:${m}`, dataset: { model: m } }, `VoiceDesign (${m})`))));
  }
  select.replaceChildren(...groups);
  const wanted = new URLSearchParams(location.search).get("voice") || previous;
  if (wanted && [...select.options].some((o) => o.value === wanted)) select.value = wanted;
}

// The API key field: remembered for the tab; entering one clears stale errors and reloads the page's data.
function setupKey(onChange) {
  const input = $("api-key");
  input.value = sessionStorage.getItem(KEY_STORAGE) || "";
  input.addEventListener("change", () => {
    sessionStorage.setItem(KEY_STORAGE, input.value.trim());
    clearErrors();
    onChange();
  });
}
