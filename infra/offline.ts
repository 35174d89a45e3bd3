// Runs the real stack program under Pulumi's mock runtime: no engine, no cloud, no network.
// Every registered resource is recorded with its exact inputs; any provider call other than the
// ones listed here fails, so a new invoke cannot slip in untested.
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "./config/keys.js";
import type { RawConfig } from "./config/load.js";
import * as stackRuntime from "@pulumi/pulumi/runtime/stack.js";

export interface RecordedResource {
  type: string;
  name: string;
  /** Pulumi logical name of the parent component, if any. */
  id: string;
  inputs: Record<string, unknown>;
  /** Resource options that matter for review: protect, ignoreChanges. */
  options: { protect: boolean; ignoreChanges: string[] };
  /** Top-level input names whose values are Pulumi secrets (shown unwrapped in `inputs`). */
  secretInputs: string[];
}

const STACK_REFERENCE = "pulumi:pulumi:StackReference";

/** Pulumi's marker for a secret value in serialized inputs. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

function isSecretWrapper(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE;
}

function unwrap(v: unknown): unknown {
  if (isSecretWrapper(v)) return unwrap(v.value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
}

function containsSecret(v: unknown): boolean {
  if (isSecretWrapper(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecret);
  return typeof v === "object" && v !== null && Object.values(v).some(containsSecret);
}

export interface OfflineRun {
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  /** The provider functions the program called (lookups), with their arguments. */
  calls: { token: string; args: Record<string, unknown> }[];
  /** The stacks whose outputs the program read (its own last deployment: runProgram). */
  stackReferences: string[];
}

/** Deterministic fake provider state: numeric ids and documentation-range addresses. */
function fakeState(type: string, inputs: Record<string, unknown>, seq: number): Record<string, unknown> {
  switch (type) {
    case "hcloud:index/primaryIp:PrimaryIp":
      return {
        ...inputs,
        ipAddress: inputs.type === "ipv4" ? `203.0.113.${10 + seq}` : `2001:db8:${(0x100 + seq).toString(16)}::/64`,
      };
    case "hcloud:index/server:Server":
      return { ...inputs, status: "running" };
    case "hcloud:index/loadBalancer:LoadBalancer":
      // Hetzner gives every balancer a public IPv4 and IPv6 of its own.
      return { ...inputs, ipv4: `203.0.113.${200 + seq}`, ipv6: `2001:db8:${(0x200 + seq).toString(16)}::1` };
    case "random:index/randomPassword:RandomPassword":
      // Deterministic stand-in; the real value comes from the random provider at `pulumi up`.
      return {
        ...inputs,
        result: `generated-${seq}-${"x".repeat(Number(inputs.length ?? 32) - String(seq).length - 10)}`,
      };
    case "hcloud:index/storageBox:StorageBox":
      // Hetzner names a box's main user after its id (u12345) and serves it at <user>.your-storagebox.de.
      return {
        ...inputs,
        username: `u${1000 + seq}`,
        server: `u${1000 + seq}.your-storagebox.de`,
        system: "FSN1-BX000",
      };
    case "hcloud:index/storageBoxSubaccount:StorageBoxSubaccount":
      return {
        ...inputs,
        username: `u${inputs.storageBoxId}-sub1`,
        server: `u${inputs.storageBoxId}-sub1.your-storagebox.de`,
      };
    case "command:local:Command":
      return { ...inputs, stdout: "", stderr: "" };
    case "hcloud:index/zone:Zone":
      return {
        ...inputs,
        authoritativeNameservers: {
          assigned: ["hydrogen.ns.hetzner.com.", "oxygen.ns.hetzner.com.", "helium.ns.hetzner.de."],
        },
      };
    default:
      return { ...inputs };
  }
}

const ALLOWED_CALLS: Record<string, (args: Record<string, unknown>) => Record<string, unknown>> = {
  // Adopting an existing DNS zone looks it up by name.
  "hcloud:index/getZone:getZone": (args) => ({ id: "4242", name: args.name, mode: "primary", ttl: 3600 }),
  // A baked node's snapshot (npm run bake): the newest of two with its labels.
  "hcloud:index/getImages:getImages": (args) => ({
    images: [
      { id: 7001, created: "2026-11-01T00:00:00+00:00", labels: {}, description: `older ${String(args.withSelector)}` },
      { id: 7002, created: "2026-11-20T00:00:00+00:00", labels: {}, description: `newer ${String(args.withSelector)}` },
    ],
  }),
};

export class UnmockedCallError extends Error {}

// The engine-facing root resource; internal to the SDK but the very function the language host calls.
const { runInPulumiStack } = stackRuntime as unknown as {
  runInPulumiStack: (init: () => Promise<unknown>) => Promise<Record<string, unknown> | undefined>;
};

function withTimeout<T>(p: Promise<T>, ms = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`program did not finish within ${ms} ms (an output left unknown by the mock?)`)),
      ms,
    );
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e)),
    );
  });
}

/** Waits for an Output's value; fails instead of hanging when the mock leaves it unknown. */
export function resolveOutput<T>(o: pulumi.Input<T>, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`output did not resolve within ${ms} ms (unknown in the mock?)`)),
      ms,
    );
    pulumi.output(o).apply((v) => {
      clearTimeout(timer);
      resolve(v as T);
      return v;
    });
  });
}

/**
 * Sets the mock runtime and config, runs `program`, returns the recorded resources and the resolved
 * outputs. `program` is imported lazily by the caller after this sets the mocks.
 */
export async function runOffline(
  stack: string,
  raw: RawConfig,
  program: () => Promise<Record<string, unknown>>,
  /** The outputs of the stack's last deployment, as its reference to itself reads them (none: a new stack). */
  deployedOutputs: Record<string, unknown> = {},
): Promise<OfflineRun> {
  const resources: RecordedResource[] = [];
  const options = new Map<string, { protect: boolean; ignoreChanges: string[] }>();
  const failures: string[] = [];
  const calls: OfflineRun["calls"] = [];
  const stackReferences: string[] = [];
  let seq = 0;
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        // The program's read of its own last outputs (runProgram): state, not a declared resource.
        if (args.type === STACK_REFERENCE) {
          stackReferences.push(String(args.inputs.name));
          return { id: args.name, state: { outputs: deployedOutputs } };
        }
        const n = seq++;
        const o = options.get(`${args.type}::${args.name}`);
        const inputs = unwrap(args.inputs) as Record<string, unknown>;
        const secretInputs = Object.keys(args.inputs).filter((k) => containsSecret(args.inputs[k]));
        resources.push({
          type: args.type,
          name: args.name,
          id: String(1000 + n),
          inputs,
          options: { protect: o?.protect ?? false, ignoreChanges: o?.ignoreChanges ?? [] },
          secretInputs,
        });
        return { id: String(1000 + n), state: fakeState(args.type, inputs, n) };
      },
      call(args) {
        calls.push({ token: args.token, args: unwrap(args.inputs) as Record<string, unknown> });
        const handler = ALLOWED_CALLS[args.token];
        if (!handler) {
          failures.push(args.token);
          throw new UnmockedCallError(`unmocked provider call ${args.token}`);
        }
        return handler(args.inputs);
      },
    },
    PROJECT,
    stack,
    true,
    "organization", // what the engine passes for a self-managed (diy) backend
  );
  pulumi.runtime.setAllConfig(raw.values, [...raw.secretKeys]);
  // Run inside the root Stack resource, as the Node.js language host does; a stack transformation
  // sees each resource's options before registration.
  const outputs = await withTimeout(
    runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation((a) => {
        options.set(`${a.type}::${a.name}`, {
          protect: a.opts.protect === true,
          ignoreChanges: a.opts.ignoreChanges ?? [],
        });
        return undefined;
      });
      return program();
    }),
  );
  // Let resource registrations that were kicked off by applies settle.
  await new Promise((r) => setTimeout(r, 0));
  if (failures.length > 0) throw new UnmockedCallError(`unmocked provider calls: ${failures.join(", ")}`);
  return { resources, outputs: outputs ?? {}, calls, stackReferences };
}
