// Escape through the kernel's riskiest interfaces: the keyring (shared with the host's nobody),
// eBPF, perf events, userfaultfd (a race-widening primitive), io_uring, file handles
// ("shocker"), kexec and modules, personality, vsock sockets to the hypervisor, and syscalls
// made through the x32 and i386 ABIs that a filter checking only x86_64 numbers would miss.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jsonResult } from "../helpers/cave.ts";
import { clean, each, outcome, PROBE_SOURCES, PROBES, useProbes } from "./harness.ts";

const probes = useProbes("escape", "abi");
const attempt = async (names: string[]) => outcome(await probes.run([`${PROBES}/escape`, ...names]));

const onX64 = process.arch === "x64";
/** Whether this kernel runs i386 syscalls at all: known only by trying one outside any sandbox,
 *  so this file builds its own copy of the abi probe now, while the tests are being declared. */
function hostRunsI386(): boolean {
  const gcc = Bun.which("gcc");
  if (!onX64 || !gcc) return false;
  const dir = mkdtempSync(join(tmpdir(), "cave-security-abi-"));
  chmodSync(dir, 0o755);
  try {
    const bin = join(dir, "abi");
    if (Bun.spawnSync([gcc, "-O1", "-o", bin, join(PROBE_SOURCES, "abi.c")]).exitCode !== 0) return false;
    return Bun.spawnSync([bin, "i386"]).stdout.toString() === "i386 returned\n";
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const ia32 = hostRunsI386();

describe("kernel attack surfaces", () => {
  test("keyctl, add_key and request_key get EPERM: the keyring shared with the host's nobody is out of reach", async () => {
    const names = ["keyctl_user_keyring", "keyctl_session", "add_key", "request_key"];
    expect(await attempt(names)).toEqual(clean(each(names, "EPERM")));
  });

  test("bpf gets EPERM for both a program load and a map", async () => {
    const names = ["bpf_prog_load", "bpf_map_create"];
    expect(await attempt(names)).toEqual(clean(each(names, "EPERM")));
  });

  test("perf_event_open gets EPERM, for the process itself and for a whole cpu", async () => {
    const names = ["perf_event_self", "perf_event_cpu"];
    expect(await attempt(names)).toEqual(clean(each(names, "EPERM")));
  });

  test("userfaultfd gets EPERM, also in user-mode-only form", async () => {
    const names = ["userfaultfd", "userfaultfd_user_only"];
    expect(await attempt(names)).toEqual(clean(each(names, "EPERM")));
  });

  test("io_uring_setup gets EPERM", async () => {
    expect(await attempt(["io_uring_setup"])).toEqual(clean({ io_uring_setup: "EPERM" }));
  });

  test("open_by_handle_at of the host file system's root inode (shocker) and name_to_handle_at get EPERM", async () => {
    const names = ["open_by_handle_at", "name_to_handle_at"];
    expect(await attempt(names)).toEqual(clean(each(names, "EPERM")));
  });

  test("kexec_load, kexec_file_load, init_module, finit_module and delete_module get EPERM", async () => {
    const names = ["kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module"];
    expect(await attempt(names)).toEqual(clean(each(names, "EPERM")));
  });

  test("personality gets EPERM for PER_LINUX32, ADDR_NO_RANDOMIZE and READ_IMPLIES_EXEC, and setarch -R fails", async () => {
    const names = [
      "personality_linux32",
      "personality_no_randomize",
      "personality_read_implies_exec",
      "personality_query",
    ];
    expect(await attempt(names)).toEqual(clean({ ...each(names.slice(0, 3), "EPERM"), personality_query: "ok" }));
    const arch = process.arch === "x64" ? "x86_64" : "aarch64";
    const r = await probes.cave(["run", "--", "setarch", arch, "-R", "true"]);
    expect(r).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: `setarch: failed to set personality to ${arch}: Operation not permitted\n`,
    });
  });

  test("socket(AF_VSOCK) gets EAFNOSUPPORT, stream and datagram: the hypervisor is not reachable", async () => {
    const names = ["vsock_stream", "vsock_dgram"];
    expect(await attempt(names)).toEqual(clean(each(names, "EAFNOSUPPORT")));
  });
});

describe("other syscall ABIs", () => {
  test.skipIf(!onX64)(
    "an x32 syscall kills the command with SIGSYS: exit 159, reason signal (x86_64 only, where x32 exists)",
    async () => {
      const r = await probes.run([`${PROBES}/abi`, "x32"], ["--json"]);
      expect({ stdout: r.stdout, exitCode: r.exitCode }).toEqual({ stdout: "", exitCode: 159 });
      expect(jsonResult(r)).toMatchObject({ exitCode: 159, signal: "SIGSYS", reason: "signal" });
    },
  );

  test.skipIf(!ia32)(
    "an i386 syscall (int 0x80) kills the command with SIGSYS (skipped unless the kernel runs i386 syscalls: x86_64 with IA32 emulation)",
    async () => {
      const r = await probes.run([`${PROBES}/abi`, "i386"], ["--json"]);
      expect({ stdout: r.stdout, exitCode: r.exitCode }).toEqual({ stdout: "", exitCode: 159 });
      expect(jsonResult(r)).toMatchObject({ exitCode: 159, signal: "SIGSYS", reason: "signal" });
    },
  );
});
