// The only module that talks to the server.

export class ApiError extends Error {
  constructor(status, detail) {
    super(ApiError.describe(detail));
    this.status = status;
    this.detail = detail;
  }

  // A sentence from FastAPI's error shapes: a string, {message}, or a list of {loc, msg}.
  static describe(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const where = (d.loc || []).filter((p) => p !== "body").join(" › ");
        return `${where ? where + ": " : ""}${String(d.msg || "").replace(/^Value error, /, "")}`;
      }).join("; ");
    }
    if (detail && typeof detail === "object" && detail.message) return detail.message;
    return JSON.stringify(detail);
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
  if (!response.ok) throw new ApiError(response.status, data.detail);
  return data;
}

export const api = {
  createSession: (body) => request("POST", "/api/sessions", body),
  session: (id) => request("GET", `/api/sessions/${id}`),
  apply: (id, op, expectedStep) =>
    request("POST", `/api/sessions/${id}/ops`, { op, expected_step: expectedStep }),
  undo: (id) => request("POST", `/api/sessions/${id}/undo`),
  redo: (id) => request("POST", `/api/sessions/${id}/redo`),
  cursor: (id, step) => request("POST", `/api/sessions/${id}/cursor`, { step }),
  walk: (id, pfn, step) => request("GET", `/api/sessions/${id}/walk?pfn=${pfn}&step=${step}`),
  series: (id) => request("GET", `/api/sessions/${id}/counters`),
  scenario: (id) => request("GET", `/api/sessions/${id}/scenario`),
  createRoom: (body) => request("POST", "/api/rooms", body),
};
