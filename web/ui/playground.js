// The playground: any voice (built-in speaker, saved clone, VoiceDesign description), text, instructions, speed,
// language and format; plays while it is generated, shows time to first audio and real-time factor, and
// keeps the last few generations to replay and download.
"use strict";

const MAX_HISTORY = 5;
const history = [];

function chosenVoice() {
  const option = $("voice").selectedOptions[0];
  return option && option.dataset.model ? { design: option.dataset.model } : { voice: $("voice").value };
}

function requestBody() {
  const choice = chosenVoice();
  const body = { model: "tts-1", input: $("text").value, speed: Number($("speed").value) };
  if (choice.design) {
    Object.assign(body, { model: choice.design, voice: "alloy", instructions: $("design").value.trim() });
  } else {
    body.voice = choice.voice;
    const instructions = $("instructions").value.trim();
    if (instructions) body.instructions = instructions;
  }
  if ($("language").value) body.language = $("language").value;
  return body;
}

function showMetrics(seconds, ttfa, rtf) {
  $("ttfa").textContent = ttfa === null || ttfa === undefined ? "–" : `${Math.round(ttfa * 1000)} ms`;
  $("rtf").textContent = rtf ? `${rtf.toFixed(2)}×` : "–";
  $("duration").textContent = Number.isFinite(seconds) ? `${seconds.toFixed(1)} s` : "–";
}

function remember(entry) {
  history.unshift(entry);
  for (const old of history.splice(MAX_HISTORY)) URL.revokeObjectURL(old.url);
  $("history-empty").hidden = history.length > 0;
  $("history").replaceChildren(...history.map((item) => el("li", {},
    el("div", { class: "said", title: item.text }, item.text),
    el("audio", { controls: "", src: item.url, preload: "metadata" }),
    el("div", { class: "meta" },
      el("span", {}, `${item.voice} · ${Number.isFinite(item.seconds) ? item.seconds.toFixed(1) : "?"} s · ${item.time}`),
      el("a", { href: item.url, download: item.filename, class: "button small" }, `Download ${item.extension}`)),
  )));
}

async function generate(event) {
  event.preventDefault();
  const body = requestBody();
  if (!body.input.trim()) return say("speak-message", "Type some text to speak first.", "error");
  if (body.model !== "tts-1" && !body.instructions) {
    $("design").focus();
    return say("speak-message", "Describe the voice you want: VoiceDesign builds it from the description.", "error");
  }
  const format = $("format").value;
  $("generate").disabled = true;
  $("generate").textContent = "Generating…";
  say("speak-message", "Generating…");
  showMetrics(NaN, null, null);
  const progress = (seconds, ttfa) => { showMetrics(seconds, ttfa, null); say("speak-message", "Playing while it is generated…"); };
  try {
    const result = format === "pcm"
      ? await playPcmStream(body, progress)
      : await playEncoded({ ...body, response_format: format }, $("player"), progress);
    $("player").hidden = format === "pcm";
    showMetrics(result.seconds, result.ttfa, result.rtf);
    const extension = format === "pcm" ? "wav" : format;
    const voiceName = $("voice").selectedOptions[0].textContent;
    remember({
      url: URL.createObjectURL(result.blob), text: body.input, voice: voiceName, seconds: result.seconds,
      extension, filename: `speech-${Date.now()}.${extension}`,
      time: new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    });
    say("speak-message", `Done: ${Number.isFinite(result.seconds) ? result.seconds.toFixed(1) : "?"} s of audio.`, "ok");
  } catch (error) {
    window.audioStats.state = "error";
    publish(window.audioStats);
    say("speak-message", `Generation failed: ${error.message}`, "error");
  } finally {
    $("generate").disabled = false;
    $("generate").textContent = "Generate";
  }
}

async function loadVoices() {
  try {
    fillVoiceSelect($("voice"), await voiceChoices());
    updateVoiceKind();
  } catch (error) {
    say("speak-message", `Could not list voices: ${error.message}`, "error");
  }
}

function updateVoiceKind() {
  const design = Boolean(chosenVoice().design);
  $("design-box").hidden = !design;
  $("instructions-box").hidden = design;
}

function countText() {
  $("text-count").textContent = `${$("text").value.length} characters`;
}

$("speak-form").addEventListener("submit", generate);
$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("speak-form").requestSubmit();
});
$("text").addEventListener("input", countText);
$("voice").addEventListener("change", updateVoiceKind);
$("speed").addEventListener("input", () => { $("speed-value").textContent = `${Number($("speed").value).toFixed(2)}×`; });
setupKey(loadVoices);
countText();
loadVoices();
