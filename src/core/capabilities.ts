// Linux capabilities by number (include/uapi/linux/capability.h, up to CAP_LAST_CAP 40), and
// the parser `run.cap_add` and `--cap-add` share. Pure data: setting them is the sandbox's job.
import { CaveError } from "./errors.ts";
import { closeMatch } from "./suggest.ts";

/** Index n is capability number n. */
export const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
] as const;

export type CapabilityName = (typeof CAPABILITIES)[number];

export const CAP_LAST_CAP = CAPABILITIES.length - 1;

/** Letters and _ only: what a JSON Schema pattern can say without case-insensitive matching. */
export const CAPABILITY_PATTERN = /^[A-Za-z_]+$/;

const NUMBERS: ReadonlyMap<string, number> = new Map(CAPABILITIES.map((name, n) => [name, n]));
const BARE = CAPABILITIES.map((name) => name.slice("CAP_".length));

/** "net_bind_service", "CAP_NET_BIND_SERVICE", "Cap_Net_Bind_Service" → "CAP_NET_BIND_SERVICE". */
export function parseCapability(name: string, code = "USAGE"): CapabilityName {
  const upper = name.toUpperCase();
  const canonical = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  const n = NUMBERS.get(canonical);
  if (n !== undefined) return CAPABILITIES[n] as CapabilityName;
  const near = closeMatch(canonical.slice("CAP_".length), BARE, true);
  const advice = near
    ? `did you mean CAP_${near}?`
    : "use a name from capabilities(7) such as NET_BIND_SERVICE, with or without CAP_";
  throw new CaveError(code, `unknown capability ${JSON.stringify(name)}: ${advice}`);
}

/** Parses each name and orders the result by capability number, without repeats. */
export function parseCapabilities(names: readonly string[], code = "USAGE"): CapabilityName[] {
  const numbers = new Set(names.map((name) => NUMBERS.get(parseCapability(name, code)) as number));
  return [...numbers].sort((a, b) => a - b).map((n) => CAPABILITIES[n] as CapabilityName);
}

/** Bit n set for capability n, as capset(2) and the bounding set take them. */
export function capabilityMask(names: readonly string[]): bigint {
  let mask = 0n;
  for (const name of parseCapabilities(names)) mask |= 1n << BigInt(NUMBERS.get(name) as number);
  return mask;
}
