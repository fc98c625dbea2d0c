// The /v1 API as the page uses it: submit, poll, thumbnails, and errors in plain words.

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

function headers(apiKey) {
  return apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
}

async function problem(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // Not a problem document (a proxy's page, say): the status says enough.
  }
  const code = body.code || `http-${response.status}`;
  const detail = body.detail || response.statusText;
  const retry = response.headers.get("Retry-After");
  const later = retry ? ` Try again in ${retry} s.` : "";
  switch (response.status) {
    case 400:
    case 413:
    case 415:
      return new ApiError(`The photo was refused: ${detail}.`, code);
    case 401:
    case 403:
      return new ApiError(`API key not accepted: ${detail}.`, code);
    case 429:
      return new ApiError(`Too many requests.${later}`, code);
    case 503:
      return code === "queue-full"
        ? new ApiError(`GeoPin is busy: too many photos are waiting.${later}`, code)
        : new ApiError(`GeoPin cannot take photos right now (${code}).${later}`, code);
    default:
      return new ApiError(`Unexpected answer ${response.status}: ${detail}`, code);
  }
}

async function send(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new ApiError("Could not reach GeoPin: check the connection.", "network");
  }
  if (!response.ok) throw await problem(response);
  return response;
}

export async function submit(file, topK, apiKey) {
  const form = new FormData();
  form.append("image", file);
  form.append("top_k", String(topK));
  const response = await send("/v1/jobs", { method: "POST", body: form, headers: headers(apiKey) });
  return (await response.json()).links.self;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls until the job ends, backing off from 250 ms to 2 s; onStatus sees each status.
export async function waitForJob(url, apiKey, onStatus) {
  for (let delay = 250; ; delay = Math.min(delay * 1.5, 2000)) {
    const job = await (await send(url, { headers: headers(apiKey) })).json();
    onStatus(job.status);
    if (job.status === "succeeded") return job;
    if (job.status === "failed") {
      throw new ApiError(`The search failed: ${job.error.message} (${job.error.code}).`, job.error.code);
    }
    await sleep(delay);
  }
}

// An object URL of the reference's thumbnail, or null when it has none. Fetched rather than
// linked, because an <img> cannot send the API key.
export async function thumbnailUrl(referenceId, apiKey) {
  const url = `/v1/references/${encodeURIComponent(referenceId)}/thumbnail`;
  try {
    const response = await send(url, { headers: headers(apiKey) });
    return URL.createObjectURL(await response.blob());
  } catch {
    return null;
  }
}
