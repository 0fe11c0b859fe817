// The realism study page: one image to rate (1-10) or two to compare (which is real?) at a time.
// The server picks the items and keeps which image is real; this page never knows it.
"use strict";

const $ = (id) => document.getElementById(id);
const FIXATION_MS = 500;
const study = { participant: null, task: null, trial: null, shownAt: 0, keys: null };

function participant() {
  // The secret token of this participant's invitation link (/study?p=TOKEN, from `unmask study invite`).
  return new URLSearchParams(location.search).get("p");
}

function say(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message;
}

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({ detail: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(answer.detail || `${response.status} ${response.statusText}`);
  return answer;
}

async function loaded(url) {
  const image = new Image();
  image.src = url;
  image.alt = "study photo";
  await image.decode();
  return image;
}

function buttons(choices) {
  // choices: [label, value, key]; resolves with the value picked by click or key.
  const area = $("answers");
  area.replaceChildren();
  return new Promise((resolve) => {
    const done = (value) => {
      document.removeEventListener("keydown", study.keys);
      area.replaceChildren();
      resolve(value);
    };
    for (const [label, value] of choices) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.addEventListener("click", () => done(value));
      area.append(button);
    }
    study.keys = (event) => {
      const match = choices.find((choice) => choice[2] === event.key);
      if (match) done(match[1]);
    };
    document.addEventListener("keydown", study.keys);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function rateTrial(trial) {
  const image = await loaded(trial.images[0]);
  $("images").className = "images single";
  $("images").replaceChildren(image);
  say("trial", "How real does this photo look? 1 = clearly edited, 10 = an unedited photo.");
  const shownAt = performance.now();
  const choices = Array.from({ length: 10 }, (_, i) => [String(i + 1), i + 1, String((i + 1) % 10)]);
  const rating = await buttons(choices);
  return { rating, response_ms: Math.round(performance.now() - shownAt) };
}

async function pairTrial(trial) {
  const [left, right] = await Promise.all(trial.images.map(loaded));
  const area = $("images");
  area.className = "images";
  const limit = trial.time_limit_ms;
  if (limit !== null) {
    say("fixation", `One photo is real. They will be shown for ${limit} ms.`);
    area.replaceChildren(Object.assign(document.createElement("span"), { textContent: "+", className: "fixation" }));
    await sleep(FIXATION_MS);
  }
  area.replaceChildren(left, right);
  say("trial", limit === null ? "Which photo is real?" : "Look…");
  const shownAt = performance.now();
  const picked = buttons([["← Left is real", "left", "ArrowLeft"], ["Right is real →", "right", "ArrowRight"]]);
  if (limit !== null) {
    await Promise.race([sleep(limit), picked]);
    area.replaceChildren();
    say("trial", "Which photo was real?");
  }
  const choice = await picked;
  return { choice, response_ms: Math.round(performance.now() - shownAt) };
}

async function nextTrial() {
  const next = await api("/api/v1/study/next", { participant: study.participant, task: study.task });
  $("progress").textContent = `${next.answered} of ${next.total} answered`;
  if (next.done) {
    $("images").replaceChildren();
    say("done", "Thank you — you have answered every item of this task.");
    return false;
  }
  study.trial = next.trial;
  const answer = next.trial.task === "rate" ? await rateTrial(next.trial) : await pairTrial(next.trial);
  say("saving", "Saving…");
  await api("/api/v1/study/answer", { participant: study.participant, trial: next.trial.token, ...answer });
  return true;
}

async function start(task) {
  study.task = task;
  $("tasks").hidden = true;
  try {
    while (await nextTrial()) {
      // one trial after the other until the task is done
    }
  } catch (error) {
    say("error", `${error.message} — reload the page to go on; answers given so far are saved.`);
  }
}

async function setup() {
  study.participant = participant();
  if (!study.participant) {
    say("error", "Open this study with the personal link you were given.");
    return;
  }
  let info;
  try {
    info = await api("/api/v1/study");
  } catch (error) {
    say("error", error.message);
    return;
  }
  for (const button of $("tasks").querySelectorAll("button")) {
    button.hidden = !info.tasks.includes(button.dataset.task);
    button.addEventListener("click", () => start(button.dataset.task));
  }
  $("tasks").hidden = false;
  say("start", `${info.name}: choose a task.`);
}

setup();
