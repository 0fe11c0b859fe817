// The unmask page: upload, see faces and the found mask, edit it with a brush, run, compare, download.
// Talks only to the REST API (/api/v1/detect, /api/v1/remove, /api/v1/models); no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const MASK_COLOUR = "rgb(255, 40, 90)";
const MAX_UNDO = 200;

const page = {
  file: null, // the photo as the user gave it (sent as is, so the result keeps its format)
  width: 0,
  height: 0,
  baseMask: null, // canvas with the mask the server found, in MASK_COLOUR
  strokes: [], // edits since then: {tool, size, points} or {tool: "clear"}; undo pops one
  foundMessage: "", // the status line that reported what was found, shown again when every edit is undone
  drawing: null,
  urls: [],
};

function setState(state, message) {
  document.body.dataset.state = state;
  if (message !== undefined) $("status").textContent = message;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.detail || `${response.status} ${response.statusText}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function unavailableNote(model) {
  // The first clause of the pipeline's reason, without its "model 'name' " prefix: "has no trained weights
  // shipped", "fills from a reference photo".
  const reason = (model.reason || "cannot run here").split(/[:;]/)[0];
  return reason.replace(`model '${model.name}' `, "");
}

async function loadModels() {
  const response = await fetch("/api/v1/models");
  if (!response.ok) {
    setState("error", await errorText(response));
    return;
  }
  const body = await response.json();
  for (const model of body.models) {
    const label = `${model.name} (${model.kind})${model.available ? "" : ` — ${unavailableNote(model)}`}`;
    const option = new Option(label, model.name, model.default, model.default);
    option.disabled = !model.available;
    option.title = model.reason || "";
    $("model").add(option);
  }
  if (!body.reference_supported) {
    $("reference").disabled = true;
    $("reference").title = "reference-guided unmasking is not available in this version";
    $("reference").labels[0].textContent += " — not available in this version";
  }
}

// ---- canvases -------------------------------------------------------------------------------------------

function sizeCanvases(width, height) {
  for (const id of ["photo", "mask", "faces"]) {
    $(id).width = width;
    $(id).height = height;
  }
}

async function maskFromPng(base64) {
  // The server's mask (white = covered) as a canvas coloured MASK_COLOUR with alpha 255 where covered.
  const blob = await (await fetch(`data:image/png;base64,${base64}`)).blob();
  const bitmap = await createImageBitmap(blob);
  const canvas = document.createElement("canvas");
  canvas.width = page.width;
  canvas.height = page.height;
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  const data = pixels.data;
  for (let i = 0; i < data.length; i += 4) {
    const covered = data[i] >= 128;
    data[i] = 255;
    data[i + 1] = 40;
    data[i + 2] = 90;
    data[i + 3] = covered ? 255 : 0;
  }
  context.putImageData(pixels, 0, 0);
  return canvas;
}

function drawFaces(faces) {
  const context = $("faces").getContext("2d");
  context.clearRect(0, 0, page.width, page.height);
  const line = Math.max(2, Math.round(Math.max(page.width, page.height) / 300));
  context.lineWidth = line;
  context.strokeStyle = context.fillStyle = "rgb(60, 220, 120)";
  for (const face of faces) {
    const [x0, y0, x1, y1] = face.box;
    context.strokeRect(x0, y0, x1 - x0, y1 - y0);
    for (const [x, y] of face.keypoints) {
      context.beginPath();
      context.arc(x, y, line * 1.5, 0, 2 * Math.PI);
      context.fill();
    }
  }
}

function paintStroke(context, stroke, from) {
  // Draw ``stroke`` from point index ``from`` on (a dot for its first point, then segments).
  context.save();
  context.globalCompositeOperation = stroke.tool === "eraser" ? "destination-out" : "source-over";
  context.strokeStyle = context.fillStyle = MASK_COLOUR;
  context.lineWidth = stroke.size;
  context.lineCap = context.lineJoin = "round";
  const points = stroke.points;
  if (from === 0) {
    context.beginPath();
    context.arc(points[0][0], points[0][1], stroke.size / 2, 0, 2 * Math.PI);
    context.fill();
  }
  context.beginPath();
  context.moveTo(...points[Math.max(0, from - 1)]);
  for (let i = Math.max(1, from); i < points.length; i++) context.lineTo(...points[i]);
  context.stroke();
  context.restore();
}

function redrawMask() {
  const context = $("mask").getContext("2d");
  context.clearRect(0, 0, page.width, page.height);
  if (page.baseMask) context.drawImage(page.baseMask, 0, 0);
  for (const stroke of page.strokes) {
    if (stroke.tool === "clear") context.clearRect(0, 0, page.width, page.height);
    else paintStroke(context, stroke, 0);
  }
  $("undo").disabled = page.strokes.length === 0;
}

function maskBlob() {
  // The mask as the API wants it: PNG of the photo's size, white = hole (brush edges thresholded at half).
  const canvas = $("mask");
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  const data = pixels.data;
  for (let i = 0; i < data.length; i += 4) {
    const value = data[i + 3] >= 128 ? 255 : 0;
    data[i] = data[i + 1] = data[i + 2] = value;
    data[i + 3] = 255;
  }
  const out = document.createElement("canvas");
  out.width = canvas.width;
  out.height = canvas.height;
  out.getContext("2d").putImageData(pixels, 0, 0);
  return new Promise((resolve) => out.toBlob(resolve, "image/png"));
}

// ---- brush ----------------------------------------------------------------------------------------------

function imagePoint(event) {
  const rect = $("faces").getBoundingClientRect();
  return [(event.clientX - rect.left) * (page.width / rect.width), (event.clientY - rect.top) * (page.height / rect.height)];
}

function brushSize() {
  // The slider is in screen pixels; strokes are stored in photo pixels.
  const rect = $("faces").getBoundingClientRect();
  return Number($("size").value) * (page.width / rect.width);
}

function startStroke(event) {
  if (!page.file || event.button !== 0) return;
  event.preventDefault();
  $("faces").setPointerCapture(event.pointerId);
  const tool = document.querySelector("input[name=tool]:checked").value;
  page.drawing = { tool, size: brushSize(), points: [imagePoint(event)] };
  page.strokes.push(page.drawing);
  if (page.strokes.length > MAX_UNDO) {
    // Fold the oldest edit into the base mask so undo history stays bounded.
    const base = document.createElement("canvas");
    base.width = page.width;
    base.height = page.height;
    const context = base.getContext("2d");
    if (page.baseMask) context.drawImage(page.baseMask, 0, 0);
    const oldest = page.strokes.shift();
    if (oldest.tool === "clear") context.clearRect(0, 0, page.width, page.height);
    else paintStroke(context, oldest, 0);
    page.baseMask = base;
  }
  paintStroke($("mask").getContext("2d"), page.drawing, 0);
  $("undo").disabled = false;
}

function moveStroke(event) {
  if (!page.drawing) return;
  const points = page.drawing.points;
  points.push(imagePoint(event));
  paintStroke($("mask").getContext("2d"), page.drawing, points.length - 1);
}

function showMaskState() {
  // The status line for the mask as it is now: the found one untouched, or edited (and how far undo goes).
  const edits = page.strokes.length;
  if (edits === 0) setState("detected", page.foundMessage);
  else setState("edited", `Mask edited (${plural(edits, "edit")} to undo). Remove fills exactly the marked pixels.`);
}

function endStroke() {
  if (!page.drawing) return;
  page.drawing = null;
  showMaskState();
}

function undo() {
  if (page.strokes.length === 0) return;
  page.strokes.pop();
  redrawMask();
  showEditor();
}

function clearMask() {
  page.strokes.push({ tool: "clear" });
  redrawMask();
  showEditor();
  setState("edited", "Mask cleared. Paint what should be filled.");
}

// ---- photo, run, result ---------------------------------------------------------------------------------

function forgetUrls() {
  for (const url of page.urls) URL.revokeObjectURL(url);
  page.urls = [];
}

function showEditor() {
  // The photo with its mask in place of the result, ready to paint.
  $("result").hidden = true;
  $("stage").hidden = false;
  showMaskState();
}

function showResult(before, after, name) {
  // The before/after in place of the editor, Download above it, scrolled into view (phones stack the controls
  // above it).
  $("before").src = before;
  $("after").src = after;
  const link = $("download");
  link.href = after;
  link.download = name;
  $("stage").hidden = true;
  $("result").hidden = false;
  $("result").scrollIntoView({ block: "nearest" });
}

async function openPhoto(file) {
  if (!file) return;
  forgetUrls();
  $("result").hidden = true;
  $("run").disabled = true;
  setState("loading", `Looking for faces in ${file.name}…`);
  const form = new FormData();
  form.append("image", file);
  const response = await fetch("/api/v1/detect", { method: "POST", body: form });
  if (!response.ok) {
    setState("error", await errorText(response));
    return;
  }
  const found = await response.json();
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    setState("error", "This browser cannot show this image format; use JPEG, PNG or WebP (the API takes others).");
    return;
  }
  page.file = file;
  page.width = found.width;
  page.height = found.height;
  page.strokes = [];
  sizeCanvases(found.width, found.height);
  $("work").style.setProperty("--aspect", found.width / found.height);
  $("photo").getContext("2d").drawImage(bitmap, 0, 0, found.width, found.height);
  page.baseMask = await maskFromPng(found.mask_png);
  redrawMask();
  drawFaces(found.faces);
  $("tools").disabled = false;
  $("run").disabled = found.faces.length === 0;
  const share = (100 * found.occluded_fraction).toFixed(1);
  page.foundMessage = found.faces.length === 0
    ? "No face found: removal needs a face."
    : `${plural(found.faces.length, "face")} found; ${share}% of the photo marked as covered. ` +
      "Paint or erase to fix the mask, then Remove.";
  showEditor();
}

function downloadName(response, fallback) {
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  return match ? match[1] : fallback;
}

async function run() {
  $("run").disabled = true;
  setState("running", "Removing… (the filled-in face is invented, not recovered)");
  const form = new FormData();
  form.append("image", page.file);
  // Untouched: let the pipeline find the mask itself (it also feathers the edge); edited: fill exactly it.
  if (page.strokes.length > 0) form.append("mask", await maskBlob(), "mask.png");
  form.append("model", $("model").value);
  const reference = $("reference").files[0];
  if (reference) form.append("reference", reference);
  try {
    const response = await fetch("/api/v1/remove", { method: "POST", body: form });
    if (!response.ok) {
      setState("error", await errorText(response));
      return;
    }
    const result = await response.blob();
    forgetUrls();
    const before = URL.createObjectURL(page.file);
    const after = URL.createObjectURL(result);
    page.urls.push(before, after);
    const faces = Number(response.headers.get("X-Unmask-Faces") || 0);
    const notes = response.headers.get("X-Unmask-Notes");
    setState("done", `Done with ${response.headers.get("X-Unmask-Model")}: ${plural(faces, "face")} filled. ` +
      "Drag the slider to compare; the download keeps the photo's size and format." + (notes ? ` Note: ${notes}` : ""));
    showResult(before, after, downloadName(response, "unmasked.png"));  // after the status, which moves it on phones
  } finally {
    $("run").disabled = false;
  }
}

function setup() {
  $("image").addEventListener("change", (event) => openPhoto(event.target.files[0]));
  const drop = $("drop");
  for (const target of [drop, $("work")]) {
    target.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    target.addEventListener("dragleave", () => drop.classList.remove("over"));
    target.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      openPhoto(event.dataTransfer.files[0]);
    });
  }
  const overlay = $("faces");
  overlay.addEventListener("pointerdown", startStroke);
  overlay.addEventListener("pointermove", moveStroke);
  overlay.addEventListener("pointerup", endStroke);
  overlay.addEventListener("pointercancel", endStroke);
  $("size").addEventListener("input", () => ($("size-value").textContent = $("size").value));
  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clearMask);
  $("edit").addEventListener("click", showEditor);
  $("show-mask").addEventListener("change", () => ($("mask").style.visibility = $("show-mask").checked ? "" : "hidden"));
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "z") {
      event.preventDefault();
      undo();
    }
  });
  const slide = () => {
    $("after").style.clipPath = `inset(0 0 0 ${$("slider").value}%)`;
    $("divider").style.left = `${$("slider").value}%`;
  };
  $("slider").addEventListener("input", slide);
  slide();
  $("run").addEventListener("click", run);
  loadModels();
}

setup();
