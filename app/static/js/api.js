// The only module that talks to the server.

// Every error body is {detail: "a sentence", errors?: [{loc, msg, type, input}], step?,
// design?} (docs/api.md#errors): the sentence is the message.
export class ApiError extends Error {
  constructor(status, detail, body = {}) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.errors = body.errors || [];
    this.step = body.step;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    // 429 (too many new sessions) and 503 (busy, over a budget, or the store failed) say
    // when to come back; the message names the reason
    const wait = response.headers.get("retry-after");
    const error = new ApiError(response.status, data.detail, data);
    error.retryAfter = wait;
    if ((response.status === 429 || response.status === 503) && wait) {
      error.message += ` (try again in ${wait} s)`;
    }
    throw error;
  }
  return data;
}

export const api = {
  createSession: (body) => request("POST", "/api/sessions", body),
  session: (id) => request("GET", `/api/sessions/${id}`),
  // a built-in scenario as a read-only session shared by all viewers (nothing is created)
  scenarioView: (name, designs) => request("GET",
    `/api/scenarios/${encodeURIComponent(name)}/view${designs ? `?designs=${encodeURIComponent(designs)}` : ""}`),
  step: (id, step) => request("GET", `/api/sessions/${id}/steps/${step}`),
  apply: (id, op, expectedStep) =>
    request("POST", `/api/sessions/${id}/ops`, { op, expected_step: expectedStep }),
  undo: (id) => request("POST", `/api/sessions/${id}/undo`),
  redo: (id) => request("POST", `/api/sessions/${id}/redo`),
  cursor: (id, step) => request("POST", `/api/sessions/${id}/cursor`, { step }),
  step: (id, n) => request("GET", `/api/sessions/${id}/steps/${n}`),
  walk: (id, pfn, step) => request("GET", `/api/sessions/${id}/walk?pfn=${pfn}&step=${step}`),
  series: (id) => request("GET", `/api/sessions/${id}/counters`),
  compare: (body) => request("POST", "/api/compare", body),
  remove: (id) => request("DELETE", `/api/sessions/${id}`),
  createRoom: (body) => request("POST", "/api/rooms", body),
};
