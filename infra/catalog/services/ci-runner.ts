// A self-hosted GitHub Actions runner (seed 004 §4), ephemeral: each job gets a runner registered just
// in time for it, and a fresh work directory. No inbound port; its jobs cannot reach the private
// network or the metadata service; the token that registers runners stays in the registration unit.
// docs/ci-runners.md
import { libFile } from "../layout.js";
import { arr, int, obj, optional, str } from "../schema.js";
import type { OptionProblem, ServiceSpec } from "../service-spec.js";

interface CiRunnerOptions {
  repository?: string;
  organization?: string;
  labels: string[];
  runnerGroupId: number;
  version?: string;
  sha256: { x64?: string; arm64?: string };
}

const SHA256 = /^[0-9a-f]{64}$/;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** GitHub's name for a server type's architecture in the runner's release files. */
const RUNNER_ARCH = { x86: "x64", arm: "arm64" } as const;
const REGISTER_UNIT = "xiopro-ci-runner-jit.service";

export const ciRunner: ServiceSpec<CiRunnerOptions> = {
  name: "ci-runner",
  description: "An ephemeral GitHub Actions runner: one job per just-in-time registration (no inbound port)",
  units: ["xiopro-ci-runner.service"],
  timers: [],
  // GitHub (its API and the runner's release files) has no IPv6 address.
  needsIpv4: "GitHub's API and release downloads have no IPv6 address",
  egressUnlisted:
    "its jobs reach GitHub's per-job hosts (*.actions.githubusercontent.com, *.blob.core.windows.net), which an address allowlist cannot follow",
  files: [
    { template: "units/xiopro-ci-runner.service", path: "xiopro-ci-runner.service" },
    { template: "units/xiopro-ci-runner-jit.service", path: REGISTER_UNIT },
    { template: "cloud-init/files/xiopro-ci-runner", path: libFile("xiopro-ci-runner") },
  ],
  packages: {
    names: ["curl", "git"],
    note: "the runner itself is GitHub's release, pinned by version and SHA-256 and installed by xiopro-ci-runner; git for checkouts",
  },
  credentials: [
    {
      file: "ci-runner-token",
      source: { key: "ciRunnerToken" },
      description: "GitHub token that registers just-in-time runners (ci-runner)",
      grants: [{ unit: REGISTER_UNIT, id: "ci-runner-token" }],
      // The registration is a oneshot the runner unit starts: delivery restarts the runner (which
      // never reads the token), and with it a registration.
      restart: ["xiopro-ci-runner.service"],
    },
  ],
  interfaces: [],
  options: obj(
    {
      repository: optional(
        str({
          description: "owner/name of the repository the runners serve (or set organization)",
          pattern: /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/,
          patternHint: "write owner/name, e.g. xiopro/platform",
        }),
      ),
      organization: optional(
        str({
          description: "GitHub organization the runners serve (or set repository)",
          pattern: /^[A-Za-z0-9-]+$/,
          patternHint: "write the organization's login, e.g. xiopro",
        }),
      ),
      labels: arr(
        str({ description: "A runner label", pattern: LABEL, patternHint: "use letters, digits, '.', '_' and '-'" }),
        {
          description:
            "Labels besides self-hosted, linux and the architecture (x64 or arm64) that jobs select with runs-on",
          default: [],
        },
      ),
      runnerGroupId: int({ description: "Runner group the registrations join (1: Default)", min: 1, default: 1 }),
      version: optional(
        str({
          description: "The actions/runner release to install, e.g. 2.330.0 (github.com/actions/runner/releases)",
          pattern: /^\d+\.\d+\.\d+$/,
          patternHint: "write the release number without the v, e.g. 2.330.0",
        }),
      ),
      sha256: obj(
        {
          x64: optional(
            str({
              description: "SHA-256 of actions-runner-linux-x64-<version>.tar.gz (from the release notes)",
              pattern: SHA256,
              patternHint: "write the 64 lower-case hex digits of the release's SHA-256",
            }),
          ),
          arm64: optional(
            str({
              description: "SHA-256 of actions-runner-linux-arm64-<version>.tar.gz (from the release notes)",
              pattern: SHA256,
              patternHint: "write the 64 lower-case hex digits of the release's SHA-256",
            }),
          ),
        },
        {
          description: "SHA-256 of the runner's release file per architecture: nothing unchecked is unpacked",
          default: {},
        },
      ),
    },
    {
      description: "Self-hosted GitHub Actions runners (the ci-runner service): docs/ci-runners.md",
      default: { labels: [], runnerGroupId: 1, sha256: {} },
    },
  ),
  additions(o, host) {
    const arch = RUNNER_ARCH[host.architecture ?? "x86"];
    return {
      packages: host.imageFacts ? [host.imageFacts.libicu] : [],
      env: {
        XIOPRO_CI_SCOPE: o.organization ? `orgs/${o.organization}` : `repos/${o.repository ?? ""}`,
        XIOPRO_CI_LABELS: ["self-hosted", "linux", arch, ...o.labels].join(","),
        XIOPRO_CI_RUNNER_GROUP: String(o.runnerGroupId),
        XIOPRO_CI_RUNNER_VERSION: o.version ?? "",
        XIOPRO_CI_RUNNER_ARCH: arch,
        XIOPRO_CI_RUNNER_SHA256: o.sha256[arch] ?? "",
      },
    };
  },
  problems(o, host) {
    const out: OptionProblem[] = [];
    if (!o.repository === !o.organization)
      out.push({
        field: o.repository ? "organization" : "repository",
        message: o.repository ? "is set beside repository" : "is not set, and neither is organization",
        fix: "set exactly one: repository (owner/name) or organization",
      });
    if (!o.version)
      out.push({
        field: "version",
        message: "is not set",
        fix: "pin the actions/runner release, e.g. version: 2.330.0, with its SHA-256 (github.com/actions/runner/releases)",
      });
    const arch = RUNNER_ARCH[host.architecture ?? "x86"];
    if (!o.sha256[arch])
      out.push({
        field: `sha256.${arch}`,
        message: `is not set, but ${host.node} is ${arch}`,
        fix: `copy the SHA-256 of actions-runner-linux-${arch}-<version>.tar.gz from the release notes`,
      });
    return out;
  },
};
