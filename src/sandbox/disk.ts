// The writable layer of a persistent sandbox: an ext4 image of `disk` bytes (sparse) under
// the data directory, attached to a loop device and mounted by the sandbox's init in place of
// the tmpfs `cave run` uses. Writes survive stops and restarts; ENOSPC comes at the image's
// size, and the host file never grows past it.
import { closeSync, constants, ftruncateSync, openSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import * as libc from "../../ffi/libc.ts";
import { CaveError } from "../core/errors.ts";

const LOOP_CTL_GET_FREE = 0x4c82;
const LOOP_CONFIGURE = 0x4c0a;
const LO_FLAGS_AUTOCLEAR = 4;
/** struct loop_config: fd, block_size, struct loop_info64 (232 bytes), 8 reserved u64. */
const LOOP_CONFIG_SIZE = 304;
const LO_FLAGS_OFFSET = 8 + 52;

/** Makes a sparse file of `bytes` at `path` (which must not exist) holding an empty ext4. */
export function createDiskImage(path: string, bytes: number): void {
  const fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  const mkfs = Bun.which("mkfs.ext4", { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` });
  if (!mkfs) {
    throw new CaveError("SANDBOX_DISK", "mkfs.ext4 is not installed: cannot make the sandbox's disk image", {
      hint: "install e2fsprogs (apt-get install e2fsprogs)",
    });
  }
  // -m 0: no blocks reserved for root (root inside owns everything); no lazy init, so the
  // image needs no background writer after mkfs.
  const r = Bun.spawnSync([mkfs, "-q", "-F", "-m", "0", "-E", "lazy_itable_init=0,lazy_journal_init=0", path], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) {
    throw new CaveError("SANDBOX_DISK", `mkfs.ext4 failed on ${path} (exit ${r.exitCode}): ${r.stderr.toString().trim()}`, {
      hint: "the disk limit may be too small for ext4: give --disk 16M or more",
    });
  }
}

/** An image attached to a free loop device. The device detaches by itself (autoclear) once
 *  the sandbox's mount is gone and `fd` is closed; close it after the sandbox has mounted it. */
export interface LoopDevice {
  device: string;
  fd: number;
}

/** The loop devices whose backing file is `image` (each loop device's loop/backing_file in sysfs). */
export function loopsOf(image: string): string[] {
  const want = realpathSync(image);
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync("/sys/block").filter((n) => n.startsWith("loop"));
  } catch {
    return [];
  }
  for (const n of names) {
    try {
      if (readFileSync(`/sys/block/${n}/loop/backing_file`, "utf8").trim() === want) out.push(`/dev/${n}`);
    } catch {
      // not attached, or detached while we looked
    }
  }
  return out;
}

/**
 * Waits until no loop device holds `image` any more. A stopped sandbox's mount goes away with
 * its mount namespace, but the kernel may finish the unmount (and the autoclear) a moment
 * later; mounting the image again before that would put two ext4 superblocks on one file.
 */
export async function waitDetached(image: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let busy = loopsOf(image);
  while (busy.length > 0) {
    if (performance.now() > deadline) {
      throw new CaveError("SANDBOX_DISK", `the disk image ${image} is still attached to ${busy.join(", ")}`, {
        hint: "a previous start of this sandbox still holds it (is another init running?); stop it, or detach with losetup -d",
      });
    }
    await Bun.sleep(10);
    busy = loopsOf(image);
  }
}

export function attachLoop(image: string): LoopDevice {
  const ctl = open("/dev/loop-control", libc.O_RDWR);
  const backing = open(image, libc.O_RDWR);
  try {
    // Another process may take the free device between GET_FREE and CONFIGURE: EBUSY, try the next.
    for (let attempt = 0; attempt < 16; attempt++) {
      const n = call("get a free loop device", () => libc.ioctl(ctl, LOOP_CTL_GET_FREE, null));
      const device = `/dev/loop${n}`;
      const fd = open(device, libc.O_RDWR);
      const config = new Uint8Array(LOOP_CONFIG_SIZE);
      const view = new DataView(config.buffer);
      view.setUint32(0, backing, true);
      view.setUint32(LO_FLAGS_OFFSET, LO_FLAGS_AUTOCLEAR, true);
      try {
        libc.ioctl(fd, LOOP_CONFIGURE, config);
        return { device, fd };
      } catch (e) {
        libc.close(fd);
        if (e instanceof libc.SysError && e.errno === 16) continue;
        throw diskError(`attach ${image} to ${device}`, e);
      }
    }
    throw new CaveError("SANDBOX_DISK", "every free loop device was taken by another process while attaching", { hint: "try again" });
  } finally {
    libc.close(backing);
    libc.close(ctl);
  }
}

function open(path: string, flags: number): number {
  return call(`open ${path}`, () => libc.openPath(path, flags | libc.O_CLOEXEC));
}

function call<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw diskError(what, e);
  }
}

function diskError(what: string, e: unknown): CaveError {
  const detail = e instanceof libc.SysError ? `${libc.errnoName(e.errno)} (${libc.strerror(e.errno)})` : String(e);
  return new CaveError("SANDBOX_DISK", `cannot ${what}: ${detail}`, {
    hint: "persistent sandboxes need root and loop devices (/dev/loop-control; modprobe loop)",
    cause: e,
  });
}
