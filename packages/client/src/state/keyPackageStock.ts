/**
 * The device's stock of key packages (RFC 9420 §10, DESIGN §7): private halves kept in the
 * store until a Welcome uses one, public halves uploaded to the hub's directory (KP_UPLOAD)
 * and topped up to `target` when the hub reports a low count (KP_STATUS).
 *
 * Plus exactly one current last-resort package (RFC 9420 §16.8, issue 12): the hub hands it
 * out when the one-shot packages are gone (drained by claimers, or the device was offline
 * long), so the device can still be added. A new one replaces it at the hub once a Welcome
 * used it or half its lifetime has passed; the private keys of replaced ones are kept until
 * they expire, because a claimer may have fetched one before it was replaced.
 */
import { type Clock, Opcode } from "@kalandra/proto";
import type { CiphersuiteImpl } from "ts-mls";
import { encodeMessage } from "../mls/group.js";
import type { ClientStore } from "../store.js";
import {
  type Device,
  encodeOwnKeyPackage,
  generateKeyPackages,
  KEY_PACKAGE_LIFETIME_S,
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
  async upload(count: number, lastResort = false): Promise<void> {
    const { device, clock, cs, store, hub } = this.#o;
    const kps = await generateKeyPackages(device, count, clock, cs);
    for (const kp of kps) {
      if (lastResort) {
        kp.lastResort = true;
        kp.used = false;
      }
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
        last_resort: lastResort,
      }),
    );
  }

  /**
   * On connect: a full stock when the device holds no one-shot package, and a current
   * last-resort package at the hub.
   */
  async fillIfEmpty(): Promise<void> {
    if (![...this.#own.values()].some((k) => k.lastResort !== true)) {
      await this.upload(this.#o.target);
    }
    await this.keepLastResort();
  }

  /**
   * Uploads a fresh last-resort package when there is no current one: none yet, the
   * newest was used by a Welcome, or it has less than half its lifetime left (the hub
   * replaces the previous one). Expired ones are forgotten.
   */
  async keepLastResort(): Promise<void> {
    const now = this.#o.clock.now() / 1000n;
    let current: OwnKeyPackage | undefined;
    for (const kp of [...this.#own.values()]) {
      if (kp.lastResort !== true) continue;
      if (kp.publicPackage.leafNode.lifetime.notAfter < now) {
        await this.#drop(kp.ref);
        continue;
      }
      const after = kp.publicPackage.leafNode.lifetime.notAfter;
      if (current === undefined || after > current.publicPackage.leafNode.lifetime.notAfter) {
        current = kp;
      }
    }
    const fresh =
      current !== undefined &&
      current.used !== true &&
      current.publicPackage.leafNode.lifetime.notAfter - now > KEY_PACKAGE_LIFETIME_S / 2n;
    if (!fresh) await this.upload(1, true);
  }

  /** The hub reports `remaining` packages in its directory: top up to the target. */
  replenish(remaining: number): void {
    const missing = this.#o.target - remaining;
    if (missing > 0) void this.upload(missing).catch(() => undefined);
  }

  /**
   * A Welcome used `ref`: a one-shot package's private keys are spent; a last-resort one
   * is kept (it may be handed out again) and replaced at the hub.
   */
  async forget(ref: string): Promise<void> {
    const kp = this.#own.get(ref);
    if (kp?.lastResort !== true) return this.#drop(ref);
    kp.used = true;
    await this.#o.store.put(keyPackageKey(ref), encodeOwnKeyPackage(kp));
    void this.keepLastResort().catch(() => undefined);
  }

  /** Zeroes every private key held in memory and forgets them (the store is erased apart). */
  erase(): void {
    for (const kp of this.#own.values()) zeroDeep(kp.privatePackage);
    this.#own.clear();
  }

  async #drop(ref: string): Promise<void> {
    this.#own.delete(ref);
    await this.#o.store.delete(keyPackageKey(ref));
  }
}
