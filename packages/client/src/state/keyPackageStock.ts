/**
 * The device's stock of key packages (RFC 9420 §10, DESIGN §7): private halves kept in the
 * store until a Welcome uses one, public halves uploaded to the hub's directory (KP_UPLOAD)
 * and topped up to `target` when the hub reports a low count (KP_STATUS).
 */
import { type Clock, Opcode } from "@kalandra/proto";
import type { CiphersuiteImpl } from "ts-mls";
import { encodeMessage } from "../mls/group.js";
import type { ClientStore } from "../store.js";
import {
  type Device,
  encodeOwnKeyPackage,
  generateKeyPackages,
  type OwnKeyPackage,
} from "./device.js";
import { zeroDeep } from "./erasure.js";
import { expectAck } from "./errors.js";
import type { HubRequests } from "./hubLink.js";
import { keyPackageKey } from "./persistence.js";

export interface KeyPackageStockOptions {
  device: Device;
  clock: Clock;
  cs: CiphersuiteImpl;
  store: ClientStore;
  hub: HubRequests;
  /** Key packages kept in the hub's directory. */
  target: number;
}

export class KeyPackageStock {
  readonly #o: KeyPackageStockOptions;
  readonly #own: Map<string, OwnKeyPackage>;

  constructor(o: KeyPackageStockOptions, loaded: Map<string, OwnKeyPackage>) {
    this.#o = o;
    this.#own = loaded;
  }

  /** Own key packages by ref (a Welcome names the one it used). */
  get own(): ReadonlyMap<string, OwnKeyPackage> {
    return this.#own;
  }

  /** Generates `count` key packages, keeps their private keys, uploads them (KP_UPLOAD). */
  async upload(count: number): Promise<void> {
    const { device, clock, cs, store, hub } = this.#o;
    const kps = await generateKeyPackages(device, count, clock, cs);
    for (const kp of kps) {
      this.#own.set(kp.ref, kp);
      await store.put(keyPackageKey(kp.ref), encodeOwnKeyPackage(kp));
    }
    const keyPackages = kps.map((k) =>
      encodeMessage({
        version: "mls10",
        wireformat: "mls_key_package",
        keyPackage: k.publicPackage,
      }),
    );
    expectAck(
      await hub.request(Opcode.KP_UPLOAD, 0n, 0n, {
        key_packages: keyPackages,
        last_resort: false,
      }),
    );
  }

  /** Uploads a full stock when the device holds none (first connect). */
  async fillIfEmpty(): Promise<void> {
    if (this.#own.size === 0) await this.upload(this.#o.target);
  }

  /** The hub reports `remaining` packages in its directory: top up to the target. */
  replenish(remaining: number): void {
    const missing = this.#o.target - remaining;
    if (missing > 0) void this.upload(missing).catch(() => undefined);
  }

  /** A Welcome used `ref`: its private keys are spent. */
  async forget(ref: string): Promise<void> {
    this.#own.delete(ref);
    await this.#o.store.delete(keyPackageKey(ref));
  }

  /** Zeroes every private key held in memory and forgets them (the store is erased apart). */
  erase(): void {
    for (const kp of this.#own.values()) zeroDeep(kp.privatePackage);
    this.#own.clear();
  }
}
