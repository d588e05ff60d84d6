// Predict first with a built-in scenario's lesson: before a step the lesson asks about,
// the lab puts the lesson's question instead of the generic one; the answer is entered
// and checked against the engine's (GET /api/lessons/{name}).

const lessons = new Map();  // scenario name -> its questions (a promise)

function lesson(name) {
  if (!lessons.has(name)) {
    lessons.set(name, fetch(`/api/lessons/${encodeURIComponent(name)}`)
      .then((r) => (r.ok ? r.json() : { questions: [] }))
      .then((doc) => doc.questions, () => []));
  }
  return lessons.get(name);
}

// A typed answer as the rooms tally it: trimmed, lower case, single spaces, numbers plain.
function normal(text) {
  const t = text.trim().split(/\s+/).join(" ").toLowerCase();
  return /^\d+$/.test(t) ? String(Number(t)) : t;
}

function questionBox(q) {
  const box = document.createElement("div");
  box.className = "lesson-question";
  const prompt = document.createElement("p");
  prompt.className = "predict-question";
  prompt.textContent = q.prompt;
  const verdict = document.createElement("p");
  verdict.className = "predict-hint";
  verdict.setAttribute("aria-live", "polite");
  const check = (given) => {
    if (q.answer == null) verdict.textContent = `Your answer: ${given}. Reveal to see.`;
    else if (normal(given) === normal(q.answer)) verdict.textContent = `Right: ${q.answer}.`;
    else verdict.textContent = `Not quite: the answer is ${q.answer}. Reveal to see why.`;
  };
  box.append(prompt);
  if (q.choices) {
    const choices = document.createElement("div");
    choices.className = "lesson-choices";
    for (const c of q.choices) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = c;
      b.addEventListener("click", () => check(c));
      choices.appendChild(b);
    }
    box.append(choices);
  } else {
    const form = document.createElement("form");
    form.autocomplete = "off";
    const input = document.createElement("input");
    input.required = true;
    input.maxLength = 40;
    input.setAttribute("aria-label", "Your answer");
    const send = document.createElement("button");
    send.type = "submit";
    send.textContent = "Check";
    form.append(input, " ", send);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      check(input.value);
    });
    box.append(form);
  }
  box.append(verdict);
  return box;
}

// Replace the generic question (``generic``, with its hint) by the lesson's questions
// about ``step`` of the built-in scenario ``name``, if it has any and still asks.
export async function askLesson(lab, name, step, generic) {
  if (!name) return;
  const questions = (await lesson(name)).filter((q) => q.step === step);
  if (!questions.length || !lab.predicting || lab.session.step + 1 !== step) return;
  generic[0].replaceWith(...questions.map(questionBox));
  for (const extra of generic.slice(1)) extra.remove();
}
