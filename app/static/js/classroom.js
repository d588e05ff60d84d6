// The laboratory's doors to a room: "Start a class" opens a room on what the lab shows (the
// scenario, or the session's log with the lesson of the file it came from, its designs and
// step) and goes to the instructor's page; a lab opened from a room (?room=CODE, "explore
// on my own") links back to it.

import { api, ApiError } from "./api.js";

export function wireClassroom(lab, room, say) {
  const back = document.getElementById("back-to-room");
  if (room && /^[A-Za-z0-9]{6,10}$/.test(room)) {
    back.href = `/r/${room}`;
    back.hidden = false;
  }
  document.getElementById("start-class").addEventListener("click", async () => {
    const s = lab.session;
    const file = lab.file ?? {};
    const scenario = lab.scenario ?? { name: file.name || "free-play",
      title: file.title || "A class's own scenario", design: s.designs[0].design, ops: lab.ops,
      ...(file.questions ? { questions: file.questions } : {}) };
    try {
      const doc = await api.createRoom({ scenario, designs: s.designs, step: s.step });
      location.href = `/r/${doc.code}?key=${encodeURIComponent(doc.key)}`;
    } catch (err) {
      say(err instanceof ApiError ? err.message : `Something went wrong: ${err.message}`);
    }
  });
}
