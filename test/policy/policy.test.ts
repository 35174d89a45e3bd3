// The policy pack (policy/): its policies against resources recorded from the real program under
// Pulumi's mocks (both example stacks, and prd with a Storage Box and an SSH allowlist), each
// refusal asserted word for word; then the pack itself, booted by @pulumi/pulumi's run-policy-pack
// harness (what `pulumi preview --policy-pack policy` starts) and asked over the analyzer's gRPC.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import { createRequire } from "node:module";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  UnknownValueError,
  unknownCheckingProxy,
  type ResourceValidationArgs,
  type ResourceValidationPolicy,
} from "@pulumi/policy";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb.js";
import {
  AnalyzeRequest,
  AnalyzerResourceOptions,
  EnforcementLevel,
  type AnalyzeDiagnostic,
  type AnalyzerInfo,
} from "@pulumi/pulumi/proto/analyzer_pb.js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb.js";
import { Struct } from "google-protobuf/google/protobuf/struct_pb.js";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runOffline, type OfflineRun, type RecordedResource } from "../../infra/offline.js";
import {
  internetOpenClassAOnly,
  noInternetSsh,
  POLICIES,
  prdStatefulProtected,
  serverFirewallAtCreation,
} from "../../policy/policies.js";
import { ROOT, stackObject, toRaw } from "../support/helpers.js";

/** The engine's marker for a value a preview cannot know yet (e.g. the id of a firewall still to be created). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const ONLY_A = "only class-A ports may be open to the internet: tcp 80, tcp 443, udp 443";
const SSH_FIX =
  "SSH is class B: reach it over the tailnet or from adminPath.sshAllowlist, never from the whole internet";

const T = {
  server: "hcloud:index/server:Server",
  firewall: "hcloud:index/firewall:Firewall",
  volume: "hcloud:index/volume:Volume",
  primaryIp: "hcloud:index/primaryIp:PrimaryIp",
  zone: "hcloud:index/zone:Zone",
  storageBox: "hcloud:index/storageBox:StorageBox",
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-policy-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Recorded {
  stack: string;
  run: OfflineRun;
}
const runs: Record<"prd" | "tst" | "variant", Recorded> = {} as never;

async function record(stack: string, edit?: (c: Record<string, any>) => void): Promise<Recorded> {
  const obj = structuredClone(stackObject(stack)) as Record<string, any>;
  edit?.(obj);
  const { runProgram } = await import("../../infra/program.js");
  return { stack, run: await runOffline(stack, toRaw(obj), runProgram) };
}

beforeAll(async () => {
  runs.prd = await record("prd");
  runs.tst = await record("tst");
  // The Storage Box derives its key from a real OpenSSH private key.
  const key = path.join(tmp, "box");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key]);
  runs.variant = await record("prd", (c) => {
    c.backup = { ...c.backup, repository: { kind: "sftp", path: "/prd", createStorageBox: { type: "bx11" } } };
    c.backupSftpPrivateKey = fs.readFileSync(key, "utf8");
    c.adminPath = { mode: "tailscale", sshAllowlist: ["198.51.100.7/32", "2001:db8:7::/48"] };
  });
});

const urnOf = (stack: string, r: RecordedResource) => `urn:pulumi:${stack}::xiopro-infra::${r.type}::${r.name}`;
const ofType = (rec: Recorded, type: string) => rec.run.resources.filter((r) => r.type === type);
const only = (rec: Recorded, type: string, name?: string): RecordedResource => {
  const found = ofType(rec, type).filter((r) => name === undefined || r.name === name);
  expect(found, `${type} ${name ?? ""}`).toHaveLength(1);
  return found[0]!;
};

/** A recorded resource with some inputs replaced (undefined removes one) and protect set as given. */
function changed(r: RecordedResource, inputs: Record<string, unknown>, protect = r.options.protect): RecordedResource {
  const copy = structuredClone(r);
  for (const [k, v] of Object.entries(inputs)) {
    if (v === undefined) delete copy.inputs[k];
    else copy.inputs[k] = v;
  }
  copy.options.protect = protect;
  return copy;
}

const withRules = (fw: RecordedResource, ...extra: Record<string, unknown>[]) =>
  changed(fw, { rules: [...(fw.inputs.rules as unknown[]), ...extra] });

class NotApplicable extends Error {}

/**
 * Runs a policy's validations the way the analyzer does (inputs behind the unknown-checking proxy,
 * the resource's URN and options): the messages it reports, and whether it applied at all.
 */
async function judge(
  policy: ResourceValidationPolicy,
  stack: string,
  r: RecordedResource,
): Promise<{ applied: boolean; messages: string[] }> {
  const v = policy.validateResource;
  const validations = v === undefined ? [] : Array.isArray(v) ? v : [v];
  const messages: string[] = [];
  let applied = false;
  for (const validate of validations) {
    const props = unknownCheckingProxy(structuredClone(r.inputs));
    const isType = (cls: unknown) => (cls as { __pulumiType?: unknown }).__pulumiType === r.type;
    const args = {
      type: r.type,
      props,
      urn: urnOf(stack, r),
      name: r.name,
      opts: {
        protect: r.options.protect,
        ignoreChanges: r.options.ignoreChanges,
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
      },
      stackTags: new Map<string, string>(),
      isType,
      asType: (cls: unknown) => (isType(cls) ? props : undefined),
      getConfig: () => ({}),
      notApplicable: (reason?: string): never => {
        throw new NotApplicable(reason);
      },
    } as unknown as ResourceValidationArgs;
    try {
      await validate(args, (message) => {
        messages.push(message);
      });
      applied = true;
    } catch (e) {
      if (!(e instanceof NotApplicable)) throw e;
    }
  }
  return { applied, messages };
}

const messagesOf = async (policy: ResourceValidationPolicy, stack: string, r: RecordedResource) =>
  (await judge(policy, stack, r)).messages;

describe("policy pack against resources recorded from the mock program", () => {
  it("records what the policies judge: protected stateful resources in prd, unprotected in tst, the allowlist in the variant", () => {
    const count = (rec: Recorded) => Object.fromEntries(Object.entries(T).map(([k, t]) => [k, ofType(rec, t).length]));
    expect(count(runs.prd)).toEqual({ server: 1, firewall: 1, volume: 2, primaryIp: 2, zone: 1, storageBox: 0 });
    expect(count(runs.tst)).toEqual({ server: 1, firewall: 1, volume: 2, primaryIp: 2, zone: 1, storageBox: 0 });
    expect(count(runs.variant)).toEqual({ server: 1, firewall: 1, volume: 2, primaryIp: 2, zone: 1, storageBox: 1 });
    const guards = (rec: Recorded) => ofType(rec, T.volume).map((v) => [v.options.protect, v.inputs.deleteProtection]);
    expect(guards(runs.prd)).toEqual([
      [true, true],
      [true, true],
    ]);
    expect(guards(runs.tst)).toEqual([
      [false, false],
      [false, false],
    ]);
    const box = only(runs.variant, T.storageBox);
    expect([box.options.protect, box.inputs.deleteProtection]).toEqual([true, true]);
    expect((only(runs.variant, T.firewall).inputs.rules as any[]).filter((r) => r.port === "22")).toEqual([
      {
        direction: "in",
        protocol: "tcp",
        port: "22",
        sourceIps: ["198.51.100.7/32", "2001:db8:7::/48"],
        description: "sshd/ssh: SSH allowlist (emergency)",
      },
    ]);
  });

  it("passes prd, tst and the variant with zero violations, every policy having applied to its resources", async () => {
    for (const rec of [runs.prd, runs.tst, runs.variant]) {
      const applied: Record<string, number> = {};
      const messages: string[] = [];
      for (const policy of POLICIES) {
        applied[policy.name] = 0;
        for (const r of rec.run.resources) {
          const v = await judge(policy, rec.stack, r);
          if (v.applied) applied[policy.name]! += 1;
          messages.push(...v.messages.map((m) => `${policy.name} ${r.name}: ${m}`));
        }
      }
      expect(messages).toEqual([]);
      // volumes 2, primary IPs 2, zone 1 (+ the Storage Box in the variant)
      const stateful = rec === runs.variant ? 6 : 5;
      expect(applied).toEqual({
        "server-firewall-at-creation": 1,
        "internet-open-class-a-only": 1,
        "no-internet-ssh": 1,
        "prd-stateful-protected": stateful,
      });
    }
  });
});

describe("server-firewall-at-creation", () => {
  const refusal =
    "server has no firewallIds: it would boot with no cloud firewall in front of it; give it its node's firewall at creation (docs/architecture.md D5)";

  it("refuses a server whose firewallIds were removed or emptied", async () => {
    const server = only(runs.prd, T.server);
    expect(await messagesOf(serverFirewallAtCreation, "prd", changed(server, { firewallIds: undefined }))).toEqual([
      refusal,
    ]);
    expect(
      await messagesOf(serverFirewallAtCreation, "tst", changed(only(runs.tst, T.server), { firewallIds: [] })),
    ).toEqual([refusal]);
  });

  it("passes a server whose firewall id a first preview cannot know yet, reading only how many ids there are", async () => {
    expect(
      await messagesOf(serverFirewallAtCreation, "prd", changed(only(runs.prd, T.server), { firewallIds: [UNKNOWN] })),
    ).toEqual([]);
  });

  it("leaves a wholly unknown firewallIds to the update (the analyzer reports that as advisory)", async () => {
    await expect(
      judge(serverFirewallAtCreation, "prd", changed(only(runs.prd, T.server), { firewallIds: UNKNOWN })),
    ).rejects.toBeInstanceOf(UnknownValueError);
  });
});

describe("internet-open-class-a-only", () => {
  const fw = () => only(runs.prd, T.firewall);

  it("refuses a class-C port opened to 0.0.0.0/0, naming its catalog interface and only the rules that open it", async () => {
    const open = withRules(
      fw(),
      { direction: "in", protocol: "tcp", port: "9100", sourceIps: ["0.0.0.0/0"], description: "node metrics" },
      {
        direction: "in",
        protocol: "tcp",
        port: "9100",
        sourceIps: ["2001:db8::/32"],
        description: "a partial IPv6 range: not every address",
      },
    );
    expect(await messagesOf(internetOpenClassAOnly, "prd", open)).toEqual([
      `rule 5 opens tcp 9100 to every IPv4 address, but tcp 9100 is class C (node-exporter/node-metrics); ${ONLY_A}`,
    ]);
  });

  it("names every class a port has, and adds up rules that split the internet between them", async () => {
    const open = withRules(
      fw(),
      { direction: "in", protocol: "tcp", port: "5432", sourceIps: ["0.0.0.0/1"] },
      { direction: "in", protocol: "tcp", port: "5432", sourceIps: ["128.0.0.0/1", "::/0"] },
    );
    expect(await messagesOf(internetOpenClassAOnly, "prd", open)).toEqual([
      `rules 5, 6 open tcp 5432 to every IPv4 and IPv6 address, but tcp 5432 is class D (postgresql/postgres-local), class C (postgresql/postgres-private); ${ONLY_A}`,
    ]);
  });

  it("refuses the stretches of a port range around the class-A ports, ports the catalog does not know, and portless protocols", async () => {
    const open = withRules(
      fw(),
      { direction: "in", protocol: "tcp", port: "any", sourceIps: ["::/0"] },
      { direction: "in", protocol: "udp", port: "8080", sourceIps: ["0.0.0.0/0"] },
      { direction: "in", protocol: "gre", sourceIps: ["0.0.0.0/0"] },
    );
    expect(await messagesOf(internetOpenClassAOnly, "prd", open)).toEqual([
      `rule 5 opens tcp 1-79 to every IPv6 address, but tcp 1-79 is no class-A interface of the service catalog; ${ONLY_A}`,
      `rule 5 opens tcp 81-442 to every IPv6 address, but tcp 81-442 is no class-A interface of the service catalog; ${ONLY_A}`,
      `rule 5 opens tcp 444-65535 to every IPv6 address, but tcp 444-65535 is no class-A interface of the service catalog; ${ONLY_A}`,
      `rule 6 opens udp 8080 to every IPv4 address, but udp 8080 is no class-A interface of the service catalog; ${ONLY_A}`,
      `rule 7 opens gre to every IPv4 address, but gre is no class-A interface of the service catalog; ${ONLY_A}`,
    ]);
  });

  it("refuses a source it cannot read instead of guessing whom it lets in", async () => {
    const odd = withRules(fw(), { direction: "in", protocol: "tcp", port: "9100", sourceIps: ["0/0"] });
    expect(await messagesOf(internetOpenClassAOnly, "prd", odd)).toEqual([
      'rule 5 has source "0/0", which is not a dotted-decimal IPv4 CIDR, so the policy cannot tell whom it lets in; write four decimal octets, e.g. 198.51.100.7/32',
    ]);
  });

  it("draws its line at every address of a family: half the internet, the private network and outbound rules pass", async () => {
    const partial = withRules(
      fw(),
      { direction: "in", protocol: "tcp", port: "9100", sourceIps: ["0.0.0.0/1"] },
      { direction: "in", protocol: "tcp", port: "9187", sourceIps: ["10.0.0.0/16"] },
      { direction: "out", protocol: "tcp", port: "any", destinationIps: ["0.0.0.0/0", "::/0"] },
    );
    expect(await messagesOf(internetOpenClassAOnly, "prd", partial)).toEqual([]);
  });
});

describe("no-internet-ssh", () => {
  const fw = () => only(runs.prd, T.firewall);
  const ssh = (sourceIps: string[], port = "22") => ({ direction: "in", protocol: "tcp", port, sourceIps });

  it("refuses SSH from ::/0, and so does the class-A policy (tcp 22 is class B)", async () => {
    const open = withRules(fw(), ssh(["::/0"]));
    expect(await messagesOf(noInternetSsh, "prd", open)).toEqual([
      `rule 5 opens SSH (tcp 22) to every IPv6 address (::/0); ${SSH_FIX}`,
    ]);
    expect(await messagesOf(internetOpenClassAOnly, "prd", open)).toEqual([
      `rule 5 opens tcp 22 to every IPv6 address, but tcp 22 is class B (sshd/ssh); ${ONLY_A}`,
    ]);
  });

  it("refuses SSH from 0.0.0.0/1 plus 128.0.0.0/1, in one rule or split over two", async () => {
    expect(await messagesOf(noInternetSsh, "prd", withRules(fw(), ssh(["0.0.0.0/1", "128.0.0.0/1"])))).toEqual([
      `rule 5 opens SSH (tcp 22) to every IPv4 address (0.0.0.0/1, 128.0.0.0/1); ${SSH_FIX}`,
    ]);
    expect(
      await messagesOf(
        noInternetSsh,
        "prd",
        withRules(fw(), ssh(["0.0.0.0/1"]), ssh(["128.0.0.0/1", "198.51.100.0/24"])),
      ),
    ).toEqual([
      `rules 5, 6 open SSH (tcp 22) to every IPv4 address (0.0.0.0/1, 128.0.0.0/1, 198.51.100.0/24); ${SSH_FIX}`,
    ]);
  });

  it("refuses a port range that takes SSH in, and passes an allowlist and a range that leaves it out", async () => {
    expect(await messagesOf(noInternetSsh, "prd", withRules(fw(), ssh(["0.0.0.0/0", "::/0"], "20-30")))).toEqual([
      `rule 5 opens SSH (tcp 22) to every IPv4 and IPv6 address (0.0.0.0/0, ::/0); ${SSH_FIX}`,
    ]);
    expect(
      await messagesOf(noInternetSsh, "prd", withRules(fw(), ssh(["0.0.0.0/0"], "23-30"), ssh(["0.0.0.0/1"]))),
    ).toEqual([]);
    expect(await messagesOf(noInternetSsh, "prd", only(runs.variant, T.firewall))).toEqual([]);
  });
});

describe("prd-stateful-protected", () => {
  const noProtect = (kind: string, fix = "") =>
    `prd ${kind} has no Pulumi protect: a pulumi destroy or a replacement would delete it; set protection.pulumiProtect${fix} to true`;
  const noDelete = (kind: string, fix = "") =>
    `prd ${kind} has no deleteProtection: a console click or an API call would delete it; set protection.deleteProtection${fix} to true`;
  const VOL = " (or this volume's protect)";

  it("refuses a prd volume with protect off, naming the config keys that turn it back on", async () => {
    const pgdata = only(runs.prd, T.volume, "xiopro-infra-prd-node-a-pgdata");
    expect(await messagesOf(prdStatefulProtected, "prd", changed(pgdata, {}, false))).toEqual([
      noProtect("volume", VOL),
    ]);
    expect(await messagesOf(prdStatefulProtected, "prd", changed(pgdata, { deleteProtection: false }, false))).toEqual([
      noProtect("volume", VOL),
      noDelete("volume", VOL),
    ]);
  });

  it("refuses each missing guard on a prd primary IP, DNS zone and Storage Box", async () => {
    const ip = only(runs.prd, T.primaryIp, "xiopro-infra-prd-node-a-ipv4");
    expect(await messagesOf(prdStatefulProtected, "prd", changed(ip, { deleteProtection: false }))).toEqual([
      noDelete("primary IP"),
    ]);
    expect(
      await messagesOf(
        prdStatefulProtected,
        "prd",
        changed(only(runs.prd, T.zone), { deleteProtection: undefined }, false),
      ),
    ).toEqual([noProtect("DNS zone"), noDelete("DNS zone")]);
    expect(await messagesOf(prdStatefulProtected, "prd", changed(only(runs.variant, T.storageBox), {}, false))).toEqual(
      [noProtect("Storage Box")],
    );
  });

  it("tells prd by the stack in the URN or by the env label, and leaves tst's unprotected volumes alone", async () => {
    const tstVolume = only(runs.tst, T.volume, "xiopro-infra-tst-node-a-pgdata");
    expect(await messagesOf(prdStatefulProtected, "tst", tstVolume)).toEqual([]);
    const labelledPrd = changed(tstVolume, {
      labels: { ...(tstVolume.inputs.labels as Record<string, string>), env: "prd" },
    });
    expect(await messagesOf(prdStatefulProtected, "tst", labelledPrd)).toEqual([
      noProtect("volume", VOL),
      noDelete("volume", VOL),
    ]);
    expect(await messagesOf(prdStatefulProtected, "prd", changed(tstVolume, { labels: undefined }))).toEqual([
      noProtect("volume", VOL),
      noDelete("volume", VOL),
    ]);
  });
});

describe("the pack under Pulumi's Node.js policy host", () => {
  const POLICY_DIR = path.join(ROOT, "policy");
  let host: ChildProcess | undefined;
  let client: AnalyzerClient;

  beforeAll(async () => {
    // What the CLI's policy analyzer runs: run-policy-pack from the pack's directory, the pack being
    // "." there (ts-node compiles it with policy/tsconfig.json); it prints the port it serves on.
    const harness = createRequire(path.join(POLICY_DIR, "index.ts")).resolve("@pulumi/pulumi/cmd/run-policy-pack");
    const child = spawn(process.execPath, [harness, "127.0.0.1:0", "."], {
      cwd: POLICY_DIR,
      stdio: ["ignore", "pipe", "pipe"],
    });
    host = child;
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the policy pack printed no port within 180 s; stderr:\n${stderr}`)),
        180_000,
      );
      child.stdout.once("data", (d: Buffer) => (clearTimeout(timer), resolve(d.toString().trim())));
      child.once(
        "exit",
        (code) => (
          clearTimeout(timer),
          reject(new Error(`the policy pack exited (${code}) before serving; stderr:\n${stderr}`))
        ),
      );
    });
    expect(port).toMatch(/^\d+$/);
    client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client?.close();
    host?.kill();
  });

  const info = () =>
    new Promise<AnalyzerInfo>((resolve, reject) =>
      client.getAnalyzerInfo(new Empty(), (e, r) => (e ? reject(e) : resolve(r))),
    );

  function analyze(stack: string, r: RecordedResource): Promise<AnalyzeDiagnostic[]> {
    const req = new AnalyzeRequest();
    req.setType(r.type);
    req.setName(r.name);
    req.setUrn(urnOf(stack, r));
    req.setProperties(Struct.fromJavaScript(r.inputs as never));
    const opts = new AnalyzerResourceOptions();
    opts.setProtect(r.options.protect);
    opts.setIgnorechangesList(r.options.ignoreChanges);
    req.setOptions(opts);
    return new Promise((resolve, reject) =>
      client.analyze(req, (e, res) => (e ? reject(e) : resolve(res.getDiagnosticsList()))),
    );
  }
  const shown = (ds: AnalyzeDiagnostic[]) =>
    ds.map((d) => [d.getPolicyname(), d.getEnforcementlevel(), d.getMessage()]);

  it("is the pack the pull-request preview runs (preview.yml's Pulumi step, a path relative to work-dir)", () => {
    const wf = parse(fs.readFileSync(path.join(ROOT, ".github/workflows/preview.yml"), "utf8")) as {
      jobs: Record<string, { steps: { uses?: string; with?: Record<string, unknown> }[] }>;
    };
    const step = Object.values(wf.jobs)
      .flatMap((j) => j.steps)
      .find((s) => s.uses?.startsWith("pulumi/actions@"));
    expect(step?.with).toMatchObject({ command: "preview", policyPacks: "policy" });
    expect(step?.with?.["work-dir"]).toBeUndefined();
    expect(parse(fs.readFileSync(path.join(POLICY_DIR, "PulumiPolicy.yaml"), "utf8"))).toMatchObject({
      runtime: "nodejs",
    });
  });

  it("serves the four policies, all mandatory, under the pack's name and version", async () => {
    const i = await info();
    expect([i.getName(), i.getVersion()]).toEqual(["xiopro-infra", "0.1.0"]);
    expect(i.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()])).toEqual(
      POLICIES.map((p) => [p.name, EnforcementLevel.MANDATORY]),
    );
  });

  it("finds nothing in prd's recorded resources and refuses a server without firewallIds, as a preview would show it", async () => {
    for (const r of runs.prd.run.resources) expect(shown(await analyze("prd", r)), r.name).toEqual([]);
    const server = only(runs.prd, T.server);
    expect(shown(await analyze("prd", changed(server, { firewallIds: [] })))).toEqual([
      [
        "server-firewall-at-creation",
        EnforcementLevel.MANDATORY,
        "A Hetzner server gets its cloud firewall at creation (firewallIds), so it never boots unfiltered (docs/architecture.md D5).\nserver has no firewallIds: it would boot with no cloud firewall in front of it; give it its node's firewall at creation (docs/architecture.md D5)",
      ],
    ]);
    expect(shown(await analyze("prd", changed(server, { firewallIds: [UNKNOWN] })))).toEqual([]);
    expect(shown(await analyze("prd", changed(server, { firewallIds: UNKNOWN })))).toEqual([
      [
        "server-firewall-at-creation",
        EnforcementLevel.ADVISORY,
        "can't run policy 'server-firewall-at-creation' from policy pack 'xiopro-infra@v0.1.0' during preview: string value at .firewallIds can't be known during preview",
      ],
    ]);
  });
});
