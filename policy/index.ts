// Entry point of the policy pack (PulumiPolicy.yaml): `pulumi preview --policy-pack policy`.
// Constructing the PolicyPack starts the analyzer's gRPC server, so the tests import ./policies
// instead. Every policy is mandatory: a violation fails the preview (docs/policy.md).
import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./policies.js";

new PolicyPack("xiopro-infra", { enforcementLevel: "mandatory", policies: POLICIES });
