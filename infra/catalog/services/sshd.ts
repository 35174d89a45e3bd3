import { ACCESS, PLATFORM, type ServiceSpec } from "../service-spec.js";

export const sshd: ServiceSpec = {
  name: "sshd",
  description: "OpenSSH, the admin path",
  units: ["ssh.service"],
  timers: [],
  baseline: true,
  interfaces: [
    {
      name: "ssh",
      port: 22,
      protocol: "tcp",
      class: "B",
      bind: "all",
      owner: PLATFORM,
      access: ACCESS.B,
      justification: "Operator administration and recovery; keys only, never public",
    },
  ],
};
