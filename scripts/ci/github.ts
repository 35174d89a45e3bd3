// The few GitHub REST calls the workflows need: one PR comment and one drift issue, each found by a
// hidden marker and updated in place. Plain fetch against GITHUB_API_URL, so a local server can
// stand in for GitHub in the tests.

export interface GitHubOptions {
  /** e.g. https://api.github.com (GITHUB_API_URL in Actions). */
  apiUrl: string;
  /** owner/name (GITHUB_REPOSITORY). */
  repository: string;
  token: string;
}

export class GitHubError extends Error {}

interface Comment {
  id: number;
  body?: string;
  html_url?: string;
}

interface Issue extends Comment {
  number: number;
  title: string;
  state: string;
  pull_request?: unknown;
}

const PERMISSION_HINT: Record<string, string> = {
  comments: "give the job `permissions: pull-requests: write`",
  issues: "give the job `permissions: issues: write`",
};

async function call<T>(o: GitHubOptions, method: string, path: string, body?: unknown, hint = ""): Promise<T> {
  const url = `${o.apiUrl.replace(/\/+$/, "")}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        Authorization: `Bearer ${o.token}`,
        Accept: "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "xiopro-infra-ci",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    throw new GitHubError(
      `cannot reach ${url} (${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message})`,
    );
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 200);
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // keep the raw text
    }
    const fix = res.status === 403 || res.status === 404 ? `: ${hint || "check the token's permissions"}` : "";
    throw new GitHubError(`GitHub ${method} ${path} answered HTTP ${res.status} (${message})${fix}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Every item of a paginated list (100 per page, at most 50 pages). */
async function all<T>(o: GitHubOptions, path: string, hint: string): Promise<T[]> {
  const out: T[] = [];
  for (let page = 1; page <= 50; page++) {
    const sep = path.includes("?") ? "&" : "?";
    const items = await call<T[]>(o, "GET", `${path}${sep}per_page=100&page=${page}`, undefined, hint);
    out.push(...items);
    if (items.length < 100) break;
  }
  return out;
}

export interface Upserted {
  action: "created" | "updated";
  id: number;
  url?: string;
  /** Duplicates (from an earlier race) that were deleted so one comment remains. */
  removed: number[];
}

/** The one comment carrying `marker` on issue or PR `number`: updated in place, created if absent. */
export async function upsertComment(o: GitHubOptions, number: number, marker: string, body: string): Promise<Upserted> {
  if (!body.includes(marker))
    throw new GitHubError("the comment body must contain its marker, or the next run could not find it");
  const hint = PERMISSION_HINT.comments!;
  const mine = (await all<Comment>(o, `/repos/${o.repository}/issues/${number}/comments`, hint)).filter((c) =>
    c.body?.includes(marker),
  );
  if (mine.length === 0) {
    const c = await call<Comment>(o, "POST", `/repos/${o.repository}/issues/${number}/comments`, { body }, hint);
    return { action: "created", id: c.id, url: c.html_url, removed: [] };
  }
  const [keep, ...dupes] = mine;
  const c = await call<Comment>(o, "PATCH", `/repos/${o.repository}/issues/comments/${keep!.id}`, { body }, hint);
  for (const d of dupes) await call(o, "DELETE", `/repos/${o.repository}/issues/comments/${d.id}`, undefined, hint);
  return { action: "updated", id: c.id, url: c.html_url, removed: dupes.map((d) => d.id) };
}

/** The open issue carrying `marker` (pull requests excluded), if any. */
export async function findIssue(o: GitHubOptions, marker: string): Promise<Issue | undefined> {
  const open = await all<Issue>(o, `/repos/${o.repository}/issues?state=open`, PERMISSION_HINT.issues!);
  return open.find((i) => i.pull_request === undefined && i.body?.includes(marker));
}

/** Opens the marker's issue, or updates the open one in place (title and body). */
export async function upsertIssue(
  o: GitHubOptions,
  marker: string,
  title: string,
  body: string,
  labels: string[],
): Promise<{ action: "created" | "updated"; number: number }> {
  if (!body.includes(marker))
    throw new GitHubError("the issue body must contain its marker, or the next run could not find it");
  const hint = PERMISSION_HINT.issues!;
  const existing = await findIssue(o, marker);
  if (existing) {
    await call(o, "PATCH", `/repos/${o.repository}/issues/${existing.number}`, { title, body }, hint);
    return { action: "updated", number: existing.number };
  }
  const created = await call<Issue>(o, "POST", `/repos/${o.repository}/issues`, { title, body, labels }, hint);
  return { action: "created", number: created.number };
}

/** Closes the marker's open issue with a comment saying why; nothing to do when none is open. */
export async function closeIssue(
  o: GitHubOptions,
  marker: string,
  comment: string,
): Promise<{ action: "closed" | "none"; number?: number }> {
  const hint = PERMISSION_HINT.issues!;
  const existing = await findIssue(o, marker);
  if (!existing) return { action: "none" };
  await call(o, "POST", `/repos/${o.repository}/issues/${existing.number}/comments`, { body: comment }, hint);
  await call(
    o,
    "PATCH",
    `/repos/${o.repository}/issues/${existing.number}`,
    { state: "closed", state_reason: "completed" },
    hint,
  );
  return { action: "closed", number: existing.number };
}

/** Options from the Actions environment, or a clear error naming what is missing. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): GitHubOptions {
  const missing = ["GITHUB_TOKEN", "GITHUB_REPOSITORY"].filter((k) => !env[k]);
  if (missing.length > 0)
    throw new GitHubError(
      `${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} not set: run this in GitHub Actions with env GITHUB_TOKEN: \${{ github.token }}, or use --dry-run`,
    );
  return {
    apiUrl: env.GITHUB_API_URL || "https://api.github.com",
    repository: env.GITHUB_REPOSITORY!,
    token: env.GITHUB_TOKEN!,
  };
}
