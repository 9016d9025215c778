// The merchant API. App Bridge adds the session token (Authorization: Bearer …) to same-origin
// fetch and retries once with a fresh token on a 401 that asks for it, so nothing here handles tokens.

export class ApiError extends Error {
  constructor(status, data) {
    super(messageFor(status, data));
    this.status = status;
    this.data = data || {};
    this.errors = (data && typeof data.errors === "object" && data.errors) || {};
  }
}

function messageFor(status, data) {
  if (data && typeof data.error === "string" && data.error) return data.error;
  if (data && typeof data.message === "string" && data.message) return data.message;
  if (data && data.errors) return "Some fields need your attention.";
  if (status === 0) return "The connector cannot be reached. Check your connection, then try again.";
  if (status === 401) return "Your Shopify session has expired. Reload the page to continue.";
  if (status === 404) return "This part of the connector is not available yet.";
  if (status === 409) return "Your server operator manages this store's settings.";
  if (status >= 500) return "The connector could not answer just now. Try again in a moment.";
  return `The request failed (HTTP ${status}).`;
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/app/api${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, null);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
