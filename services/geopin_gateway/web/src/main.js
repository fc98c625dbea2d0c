// The page at /: pick or drop a photo, follow its job, show the estimate and the matches.
import "./style.css";
import { ApiError, submit, thumbnailUrl, waitForJob } from "./api.js";
import { distanceM, formatDistance } from "./geo.js";
import { createMap, drawResult } from "./map.js";

const KEY_STORAGE = "geopin-api-key";
const STEPS = ["upload", "queued", "running", "succeeded"];
const STATUS_TEXT = {
  upload: "Uploading the photo…",
  queued: "Queued: waiting for a worker…",
  running: "Searching the reference photos…",
  succeeded: "Located.",
};

const $ = (id) => document.getElementById(id);
const element = (tag, className, text) => Object.assign(document.createElement(tag), { className, textContent: text });
const config = document.body.dataset;
const ui = {
  form: $("locate"),
  photo: $("photo"),
  drop: $("drop"),
  preview: $("preview"),
  topK: $("top-k"),
  apiKey: $("api-key"),
  submit: $("submit"),
  status: $("status"),
  error: $("error"),
  result: $("result"),
  estimate: $("estimate"),
  matches: $("matches"),
};
let chosen = null;
let mapView = null;
let thumbnails = [];

function showStep(step) {
  const reached = STEPS.indexOf(step);
  for (const li of document.querySelectorAll("#steps li")) {
    const index = STEPS.indexOf(li.dataset.step);
    li.classList.toggle("done", index < reached || step === "succeeded");
    li.classList.remove("failed");
    if (index === reached) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  }
  ui.status.textContent = STATUS_TEXT[step];
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
  if (!message) return;
  ui.status.textContent = "Stopped.";
  document.querySelector('#steps [aria-current="step"]')?.classList.add("failed");
}

function choose(file) {
  showError("");
  if (!file) return;
  if (file.size > Number(config.maxUploadBytes)) {
    showError(`This photo is ${(file.size / 2 ** 20).toFixed(1)} MiB; the limit is ${(Number(config.maxUploadBytes) / 2 ** 20).toFixed(0)} MiB.`);
    return;
  }
  chosen = file;
  ui.preview.src = URL.createObjectURL(file);
  ui.preview.alt = `Your photo: ${file.name}`;
  ui.preview.hidden = false;
  ui.submit.disabled = false;
  ui.status.textContent = `${file.name} is ready: press Locate.`;
}

function renderEstimate(location) {
  if (!location) {
    ui.estimate.textContent = "The matches do not agree on a place.";
    return;
  }
  const percent = Math.round(location.confidence * 100);
  ui.estimate.innerHTML = "";
  const coords = document.createElement("strong");
  coords.id = "estimate-coords";
  coords.textContent = `${location.lat.toFixed(5)}, ${location.lon.toFixed(5)}`;
  ui.estimate.append(coords, ` within ${formatDistance(location.radius_m)}, confidence ${percent}%`);
}

function renderMatches(matches, location, apiKey) {
  thumbnails.forEach((url) => URL.revokeObjectURL(url));
  thumbnails = [];
  ui.matches.replaceChildren(
    ...matches.map((match) => {
      const li = document.createElement("li");
      li.dataset.id = match.id;
      const img = document.createElement("img");
      img.alt = `Reference photo ${match.id}`;
      img.width = 96;
      img.height = 72;
      const away = location ? `${formatDistance(distanceM(location, match))} from the estimate` : "";
      const text = document.createElement("div");
      text.append(
        element("span", "id", match.id),
        element("span", "meta", away),
        element("span", "meta", `score ${match.score.toFixed(3)}`),
      );
      li.append(img, text);
      thumbnailUrl(match.id, apiKey).then((url) => {
        if (url) thumbnails.push((img.src = url));
        else img.replaceWith(element("span", "no-thumb", "no thumbnail"));
      });
      return li;
    }),
  );
}

async function locate(event) {
  event.preventDefault();
  if (!chosen) return;
  const apiKey = ui.apiKey?.value.trim() || "";
  if (ui.apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey);
  ui.submit.disabled = true;
  ui.form.setAttribute("aria-busy", "true");
  showError("");
  ui.result.hidden = true;
  try {
    showStep("upload");
    const jobUrl = await submit(chosen, ui.topK.value || 10, apiKey);
    const job = await waitForJob(jobUrl, apiKey, showStep);
    const { matches, location } = job.result;
    ui.result.hidden = false;
    renderEstimate(location);
    mapView ||= createMap($("map"), config.tileUrl, config.tileAttribution);
    drawResult(mapView, location, matches);
    renderMatches(matches, location, apiKey);
    ui.status.textContent = `Located: ${matches.length} matches.`;
  } catch (error) {
    showError(error instanceof ApiError ? error.message : `Something went wrong: ${error}`);
  } finally {
    ui.submit.disabled = false;
    ui.form.removeAttribute("aria-busy");
  }
}

// A file the browser cannot show (HEIC, or not a photo at all) gets no preview, not a broken one.
ui.preview.addEventListener("error", () => (ui.preview.hidden = true));
ui.photo.addEventListener("change", () => choose(ui.photo.files[0]));
ui.drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  ui.drop.classList.add("over");
});
ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("over"));
ui.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.drop.classList.remove("over");
  choose(event.dataTransfer.files[0]);
});
ui.form.addEventListener("submit", locate);
if (ui.apiKey) ui.apiKey.value = sessionStorage.getItem(KEY_STORAGE) || "";
