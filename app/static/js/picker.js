// The scenario picker and the design switches: which scenario, and which designs (with
// their options) are shown side by side. The catalogue of both comes from the server.

const $ = (id) => document.getElementById(id);
let ctx = null;  // from app.js: {lab, initial, guarded, say, stop, open, view}

/** The scenario picker: the built-in scenarios, then free play on an empty machine. */
export function fillPicker() {
  const { lab, initial } = ctx;
  const select = $("scenario");
  for (const s of initial.scenarios) {
    const o = document.createElement("option");
    o.value = s.name;
    o.textContent = s.title || s.name;
    select.appendChild(o);
  }
  const empty = document.createElement("option");
  empty.value = "";
  empty.textContent = "(an empty machine: free play)";
  select.appendChild(empty);
  select.addEventListener("change", () => ctx.guarded(async () => {
    ctx.stop();
    if (!select.value) {
      await ctx.open({ designs: lab.session.designs }, null);
      lab.session.scenario = null;
    } else {
      // a scenario opens on its own design and options (the bug it shows needs them)
      await ctx.view(select.value, [], 0);
    }
    $("stage").focus();
  }));
}

/** The Designs menu: a switch per design of the catalogue, and one per option. */
export function fillDesigns() {
  const { lab, initial } = ctx;
  const box = $("designs");
  box.replaceChildren();
  const chosen = new Map(lab.session.designs.map((d) => [d.design, d.options]));
  $("designs-button").textContent = `${lab.session.designs.length === 1 ? lab.session.designs[0].design
    : `${lab.session.designs.length} designs`} ▾`;
  for (const d of initial.designs) {
    const label = document.createElement("label");
    const check = document.createElement("input");
    check.type = "checkbox";
    check.value = d.name;
    check.checked = chosen.has(d.name);
    check.dataset.design = d.name;
    check.addEventListener("change", () => switchDesigns());
    label.append(check, ` ${d.name}`);
    label.title = `${d.title} — ${d.era}`;
    box.appendChild(label);
    const options = Object.entries(d.options || {});
    if (options.length) {
      const details = document.createElement("div");
      details.className = "options";
      for (const [opt, help] of options) {
        const l = document.createElement("label");
        const c = document.createElement("input");
        c.type = "checkbox";
        c.dataset.design = d.name;
        c.dataset.option = opt;
        c.checked = (chosen.get(d.name) || []).includes(opt);
        c.addEventListener("change", () => switchDesigns());
        l.append(c, ` ${opt}`);
        l.title = help;
        details.append(l);
      }
      box.appendChild(details);
    }
  }
}

/** Show the designs switched on, at the same step. */
function switchDesigns() {
  const { lab } = ctx;
  const box = $("designs");
  const designs = [...box.querySelectorAll("input[data-design]:not([data-option])")]
    .filter((c) => c.checked)
    .map((c) => ({ design: c.value, options: [...box.querySelectorAll(
      `input[data-option][data-design="${c.value}"]`)].filter((o) => o.checked)
      .map((o) => o.dataset.option) }));
  if (!designs.length) { ctx.say("Choose at least one design."); fillDesigns(); return; }
  ctx.guarded(async () => {
    if (lab.scenario && lab.session.read_only) {
      await ctx.view(lab.scenario, designs, lab.session.step);
      return;
    }
    const body = lab.scenario
      ? { scenario: lab.scenario, designs, at_step: lab.session.step }
      : { designs, ops: lab.ops, at_step: lab.session.step };
    await ctx.open(body, lab.scenario);
  });
}

export function install(context) {
  ctx = context;
}
