// The Hetzner Cloud and Tailscale APIs the CLIs call (rebuild, drill): JSON over HTTPS with a
// bearer token. XIOPRO_HCLOUD_API and XIOPRO_TAILSCALE_API point them at a stand-in in tests.
import { parseServerTypes, type Availability } from "./server-types.js";

export interface HcloudServer {
  id: number;
  name: string;
  status: string;
  publicIpv4?: string;
}

export interface TailscaleDevice {
  id: string;
  /** MagicDNS name, e.g. prd-node-a.tail1234.ts.net. */
  name: string;
  hostname: string;
  created?: string;
  lastSeen?: string;
}

/** JSON over HTTPS with a bearer token; the error names the endpoint, never the token. */
async function api<T>(method: string, url: string, token: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url.replace(/\?.*$/, "")} answered ${res.status} ${text.slice(0, 200)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

export const hcloudApi = (env: NodeJS.ProcessEnv) =>
  (env.XIOPRO_HCLOUD_API ?? "https://api.hetzner.cloud/v1").replace(/\/$/, "");
export const tailscaleApi = (env: NodeJS.ProcessEnv) =>
  (env.XIOPRO_TAILSCALE_API ?? "https://api.tailscale.com").replace(/\/$/, "");

/** Servers of the Hetzner project with these names (the API filters by exact name). */
export async function findServers(names: string[], token: string, env: NodeJS.ProcessEnv): Promise<HcloudServer[]> {
  const out: HcloudServer[] = [];
  for (const name of names) {
    const r = await api<{
      servers: { id: number; name: string; status: string; public_net?: { ipv4?: { ip?: string } | null } }[];
    }>("GET", `${hcloudApi(env)}/servers?name=${encodeURIComponent(name)}`, token);
    out.push(
      ...r.servers.map((s) => ({
        id: s.id,
        name: s.name,
        status: s.status,
        ...(s.public_net?.ipv4?.ip ? { publicIpv4: s.public_net.ipv4.ip } : {}),
      })),
    );
  }
  return out;
}

/** The load balancer of this name as the API reports it (undefined if there is none). */
export async function findLoadBalancer(name: string, token: string, env: NodeJS.ProcessEnv): Promise<unknown> {
  const r = await api<{ load_balancers?: unknown[] }>(
    "GET",
    `${hcloudApi(env)}/load_balancers?name=${encodeURIComponent(name)}`,
    token,
  );
  return r.load_balancers?.[0];
}

/** Where each server type is offered and deprecated, every page of GET /v1/server_types. */
export async function listServerTypes(token: string, env: NodeJS.ProcessEnv): Promise<Availability> {
  const out: Availability = {};
  for (let page: number | null = 1; page !== null;) {
    const url = `${hcloudApi(env)}/server_types?per_page=50&page=${page}`;
    const parsed = parseServerTypes(await api<unknown>("GET", url, token));
    if (!parsed.ok)
      throw new Error(`GET ${url} answered server types this tool cannot read: ${parsed.problems.join("; ")}`);
    Object.assign(out, parsed.types);
    if (parsed.nextPage !== null && parsed.nextPage <= page) throw new Error(`GET ${url}: broken pagination`);
    page = parsed.nextPage;
  }
  return out;
}

export async function listTailscaleDevices(token: string, env: NodeJS.ProcessEnv): Promise<TailscaleDevice[]> {
  const tailnet = encodeURIComponent(env.TAILSCALE_TAILNET ?? "-");
  const r = await api<{ devices: TailscaleDevice[] }>(
    "GET",
    `${tailscaleApi(env)}/api/v2/tailnet/${tailnet}/devices`,
    token,
  );
  return r.devices.map((d) => ({
    id: d.id,
    name: d.name,
    hostname: d.hostname,
    created: d.created,
    lastSeen: d.lastSeen,
  }));
}

export async function deleteTailscaleDevice(id: string, token: string, env: NodeJS.ProcessEnv): Promise<void> {
  await api("DELETE", `${tailscaleApi(env)}/api/v2/device/${encodeURIComponent(id)}`, token);
}

/** A snapshot as GET /v1/images lists it. */
export interface HcloudSnapshot {
  id: number;
  description: string;
  created: string;
  /** GB; null while the image is being created. */
  imageSize: number | null;
  status: string;
  labels: Record<string, string>;
}

const snapshotOf = (i: {
  id: number;
  description?: string;
  created: string;
  image_size?: number | null;
  status: string;
  labels?: Record<string, string>;
}): HcloudSnapshot => ({
  id: i.id,
  description: i.description ?? "",
  created: i.created,
  imageSize: i.image_size ?? null,
  status: i.status,
  labels: i.labels ?? {},
});

type ImagesPage = { images: Parameters<typeof snapshotOf>[0][]; meta?: { pagination?: { next_page?: number | null } } };

/** The project's snapshots that carry these labels (a label selector), newest first. */
export async function listSnapshots(
  selector: string,
  token: string,
  env: NodeJS.ProcessEnv,
): Promise<HcloudSnapshot[]> {
  const out: HcloudSnapshot[] = [];
  for (let page: number | null = 1; page !== null;) {
    const r: ImagesPage = await api<ImagesPage>(
      "GET",
      `${hcloudApi(env)}/images?type=snapshot&label_selector=${encodeURIComponent(selector)}&per_page=50&page=${page}`,
      token,
    );
    out.push(...r.images.map(snapshotOf));
    const next: number | null = r.meta?.pagination?.next_page ?? null;
    page = next !== null && next > page ? next : null;
  }
  return out.sort((a, b) => b.created.localeCompare(a.created));
}

/** The calls of a bake (npm run bake): a firewall, a server, its snapshot; JSON as the API speaks it. */
export const hcloud = {
  createFirewall: (name: string, labels: Record<string, string>, token: string, env: NodeJS.ProcessEnv) =>
    api<{ firewall: { id: number } }>("POST", `${hcloudApi(env)}/firewalls`, token, { name, labels, rules: [] }).then(
      (r) => r.firewall.id,
    ),
  deleteFirewall: (id: number, token: string, env: NodeJS.ProcessEnv) =>
    api("DELETE", `${hcloudApi(env)}/firewalls/${id}`, token).then(() => undefined),
  createServer: (body: Record<string, unknown>, token: string, env: NodeJS.ProcessEnv) =>
    api<{ server: { id: number }; action: { id: number } }>("POST", `${hcloudApi(env)}/servers`, token, body).then(
      (r) => ({ serverId: r.server.id, actionId: r.action.id }),
    ),
  serverStatus: (id: number, token: string, env: NodeJS.ProcessEnv) =>
    api<{ server: { status: string } }>("GET", `${hcloudApi(env)}/servers/${id}`, token).then((r) => r.server.status),
  deleteServer: (id: number, token: string, env: NodeJS.ProcessEnv) =>
    api<{ action: { id: number } }>("DELETE", `${hcloudApi(env)}/servers/${id}`, token).then((r) => r.action.id),
  createSnapshot: (
    serverId: number,
    description: string,
    labels: Record<string, string>,
    token: string,
    env: NodeJS.ProcessEnv,
  ) =>
    api<{ image: { id: number }; action: { id: number } }>(
      "POST",
      `${hcloudApi(env)}/servers/${serverId}/actions/create_image`,
      token,
      { type: "snapshot", description, labels },
    ).then((r) => ({ imageId: r.image.id, actionId: r.action.id })),
  image: (id: number, token: string, env: NodeJS.ProcessEnv) =>
    api<{ image: Parameters<typeof snapshotOf>[0] }>("GET", `${hcloudApi(env)}/images/${id}`, token).then((r) =>
      snapshotOf(r.image),
    ),
  deleteImage: (id: number, token: string, env: NodeJS.ProcessEnv) =>
    api("DELETE", `${hcloudApi(env)}/images/${id}`, token).then(() => undefined),
  action: (id: number, token: string, env: NodeJS.ProcessEnv) =>
    api<{ action: { status: string; error?: { code: string; message: string } | null } }>(
      "GET",
      `${hcloudApi(env)}/actions/${id}`,
      token,
    ).then((r) => r.action),
};
