/**
 * Attachments under loss, client crashes and hub power losses (issue 17): members send
 * files, some with a thumbnail, through the real client (`sendAttachment`: sealed,
 * uploaded in chunks, resumed, referenced by an APP_MESSAGE); every other member fetches
 * each file as its message arrives; a device outside the room (u4) tries to fetch every
 * one; the room's owner redacts one. The power goes at the hub right after it acknowledged
 * a complete upload, and again in the middle of an upload. What the hub emits is watched on
 * its sink, so the checks hold whatever the clients made of the answers:
 *
 * - `upload_ack_durable`: a blob the hub answered `complete: true` is never afterwards
 *   answered as an upload below its size, nor refused BLOB_NOT_FOUND to a member or to
 *   the message referencing it, unless its message was redacted first.
 * - `blob_hash`: every fetch that succeeded returned exactly the content its sender sent;
 *   no client ever got a blob that does not match its id.
 * - `erased_blob_served`: once the REDACTION of its message is acknowledged, the hub serves
 *   no byte of the blob (no BLOB_DATA, to anyone), and at the end no file under the data
 *   directory holds the hub's key of the blob (read from the vault when the upload
 *   completed) or a window of its content.
 * - `outsider_fetch`: no BLOB_DATA ever goes to a session of the device outside the room,
 *   and its every fetch fails.
 * - `attachments_flow` (liveness): at least one attachment was sequenced and fetched by a
 *   member other than its sender.
 */
import { readFileSync } from "node:fs";
import { ClientError, type ClientEvent, HubError } from "@kalandra/client";
import { decodePayload, FrameHeader, HEADER_SIZE, Opcode, toHex } from "@kalandra/proto";
import type { Target } from "@kalandra/server";
import { listFiles } from "./invariants/erasure.js";
import type { SeededRng } from "./rng.js";
import type { Scenario, ScenarioRun } from "./scenario.js";
import { roomWith } from "./workload.js";

const OUTSIDER = "u4";
const MEMBERS = ["u0", "u1", "u2", "u3"] as const;

type AttachmentEnvelope = Extract<
  NonNullable<Extract<ClientEvent, { type: "message" }>["envelope"]>,
  { t: "attachment" }
>;

/** A file a member sends: its content and thumbnail, by the unique name it travels under. */
interface FileRecord {
  content: Uint8Array;
  preview: Uint8Array | undefined;
}

/** What the hub said of one blob (by id hex). */
interface BlobState {
  /** Virtual time the hub answered `complete: true`. */
  ackedAt?: bigint;
  /** Virtual time the REDACTION of its message was acknowledged. */
  erasedAt?: bigint;
  /** The hub's key of the blob (its vault slot), read when the upload completed. */
  key?: Uint8Array;
}

/** Everything one run records, and the checks that read it. */
class AttachmentLedger {
  readonly files = new Map<string, FileRecord>();
  readonly blobs = new Map<string, BlobState>();
  /** Attachment messages seen by some member: log_index → envelope. */
  readonly messages = new Map<bigint, AttachmentEnvelope>();
  readonly #fetched = new Set<string>();
  #crashes = 0;

  constructor(private readonly r: ScenarioRun) {}

  #blob(id: string): BlobState {
    let b = this.blobs.get(id);
    if (b === undefined) {
      b = {};
      this.blobs.set(id, b);
    }
    return b;
  }

  /** The hub's frames of the room: upload states, blob data. */
  served(target: Target, frame: Uint8Array): void {
    if (frame.length < HEADER_SIZE) return;
    const h = FrameHeader.view(frame);
    if (h.roomId !== this.r.room) return;
    const body = frame.subarray(HEADER_SIZE);
    if (h.opcode === Opcode.BLOB_UPLOAD_STATE) {
      const p = decodePayload(Opcode.BLOB_UPLOAD_STATE, body);
      const id = toHex(p.blob_id);
      const b = this.#blob(id);
      if (p.complete) {
        b.ackedAt ??= this.r.w.now;
        b.key ??= this.r.w.hub.lmdb?.inspectBlobKey(this.r.room, p.blob_id);
        this.#powerLoss(true);
      } else {
        if (b.ackedAt !== undefined && b.erasedAt === undefined)
          this.r.w.violation(
            "upload_ack_durable",
            `blob ${id.slice(0, 12)} was acknowledged complete, now at offset ${p.offset}`,
          );
        if (p.offset > 0) this.#powerLoss(false);
      }
    } else if (h.opcode === Opcode.BLOB_DATA) {
      const id = toHex(decodePayload(Opcode.BLOB_DATA, body).blob_id);
      if (this.blobs.get(id)?.erasedAt !== undefined)
        this.r.w.violation(
          "erased_blob_served",
          `blob ${id.slice(0, 12)} served after its erasure`,
        );
      if (target.kind === "session" && target.sessionId.startsWith(`${OUTSIDER}#`))
        this.r.w.violation("outsider_fetch", `blob ${id.slice(0, 12)} served to ${OUTSIDER}`);
    }
  }

  /**
   * Power losses: first right after a complete upload is acknowledged (it must survive),
   * then in the middle of an upload (it must resume).
   */
  #powerLoss(complete: boolean): void {
    if (this.#crashes >= 2 || complete !== (this.#crashes === 0)) return;
    this.#crashes++;
    this.r.notes.crashes = this.#crashes;
    const { w, rng } = this.r;
    // Right after an acknowledgement nothing buffered reaches the disk: what the ack
    // promised must already be there. Mid-upload, a seeded prefix does.
    const written = complete ? 0 : rng.int(3);
    w.at(0, `power loss (${complete ? "after an acknowledged upload" : "mid-upload"})`, () =>
      w.crashHub(written, 300 + rng.int(2000)),
    );
  }

  /** A member saw an attachment message: it fetches the file (and thumbnail); so does u4. */
  arrived(node: string, e: Extract<ClientEvent, { type: "message" }>): void {
    const env = e.envelope;
    if (env?.t !== "attachment" || e.roomId !== this.r.room) return;
    if (!this.messages.has(e.logIndex)) {
      this.messages.set(e.logIndex, env);
      this.r.w.at(500, `${OUTSIDER} tries ${env.name}`, () => this.#outsider(env));
    }
    if (e.own) return;
    this.r.w.at(0, `${node} fetches ${env.name}`, () => this.fetch(node, env, "fetch"));
  }

  /** `node` fetches `env`'s file and thumbnail, checking each against what was sent. */
  fetch(node: string, env: AttachmentEnvelope, what: string, expectRefusal = false): void {
    const c = this.r.w.client(node).client;
    const file = this.files.get(env.name ?? "");
    if (c === undefined || file === undefined) return;
    const parts = [
      { ref: { roomId: this.r.room, ...env }, want: file.content },
      ...(env.thumb === undefined || file.preview === undefined
        ? []
        : [{ ref: { roomId: this.r.room, ...env.thumb }, want: file.preview }]),
    ];
    for (const { ref, want } of parts) {
      const id = toHex(ref.hash);
      c.fetchAttachment(ref).then(
        (got) => {
          if (expectRefusal)
            this.r.w.violation(
              "erased_blob_served",
              `${node} fetched ${id.slice(0, 12)} after its erasure`,
            );
          if (Buffer.compare(Buffer.from(got), Buffer.from(want)) !== 0)
            this.r.w.violation("blob_hash", `${node} got other bytes for ${env.name}`);
          this.#fetched.add(`${node}/${id}`);
          this.r.notes.fetched = (this.r.notes.fetched ?? 0) + 1;
        },
        (err: unknown) => this.#refused(err, id, `${node} ${what}`),
      );
    }
  }

  #outsider(env: AttachmentEnvelope): void {
    const c = this.r.w.client(OUTSIDER).client;
    if (c === undefined) return;
    this.r.notes.outsiderTries = (this.r.notes.outsiderTries ?? 0) + 1;
    c.fetchAttachment({ roomId: this.r.room, ...env }).then(
      () => this.r.w.violation("outsider_fetch", `${OUTSIDER} fetched ${env.name}`),
      () => undefined,
    );
  }

  /** A failed fetch: typed refusals that must not happen to a member. */
  #refused(e: unknown, id: string, what: string): void {
    const b = this.blobs.get(id);
    if (
      e instanceof HubError &&
      e.hubName === "BLOB_NOT_FOUND" &&
      b?.ackedAt !== undefined &&
      b.erasedAt === undefined
    )
      this.r.w.violation(
        "upload_ack_durable",
        `${what} of acknowledged ${id.slice(0, 12)}: ${e.message}`,
      );
    if (
      e instanceof ClientError &&
      (e.code === "attachment_hash_mismatch" || e.code === "bad_blob")
    )
      this.r.w.violation("blob_hash", `${what} of ${id.slice(0, 12)}: ${e.message}`);
  }

  /** The owner redacts the first attachment message; then a member must be refused it. */
  redactOne(): void {
    const first = [...this.messages.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))[0];
    const owner = this.r.w.client("u0").client;
    if (first === undefined || owner === undefined) return;
    const [logIndex, env] = first;
    owner.redact(this.r.room, logIndex, "scenario").then(
      () => {
        const now = this.r.w.now;
        for (const h of [env.hash, env.thumb?.hash])
          if (h !== undefined) this.#blob(toHex(h)).erasedAt = now;
        this.r.notes.erased = (this.r.notes.erased ?? 0) + 1;
        this.r.w.at(1000, "fetch the erased file", () =>
          this.fetch("u1", env, "fetch after erasure", true),
        );
      },
      () => undefined,
    );
  }

  /** End of run: erased contents are on no disk; something flowed. */
  check(): void {
    const erased = [...this.messages.values()].filter(
      (env) => this.blobs.get(toHex(env.hash))?.erasedAt !== undefined,
    );
    if (erased.length > 0 && this.r.w.hub.up) {
      const files = listFiles(this.r.w.dir).map((f) => readFileSync(f));
      for (const env of erased) {
        for (const h of [env.hash, env.thumb?.hash]) {
          const key = h === undefined ? undefined : this.blobs.get(toHex(h))?.key;
          if (key !== undefined && files.some((f) => f.indexOf(Buffer.from(key)) >= 0))
            this.r.w.violation("erased_blob_served", `the hub's key of ${env.name} is on disk`);
        }
        const content = this.files.get(env.name ?? "")?.content;
        if (content === undefined || content.length < 64) continue;
        const window = Buffer.from(content.subarray(content.length - 64));
        if (files.some((f) => f.indexOf(window) >= 0))
          this.r.w.violation("erased_blob_served", `content of ${env.name} is on disk`);
      }
    }
    const others = [...this.#fetched].length;
    if (this.messages.size === 0 || others === 0)
      this.r.w.violation(
        "attachments_flow",
        `${this.messages.size} attachment messages, ${others} fetches by other members`,
      );
  }
}

const ledgers = new WeakMap<ScenarioRun, AttachmentLedger>();

function ledgerOf(r: ScenarioRun): AttachmentLedger {
  const l = ledgers.get(r);
  if (l === undefined) throw new Error("attachments: setup did not run");
  return l;
}

/** `from` sends its `i`th file at `delayMs` (1–3 chunks, half of them with a thumbnail). */
function sendFile(
  r: ScenarioRun,
  l: AttachmentLedger,
  rng: SeededRng,
  from: string,
  i: number,
  delayMs: number,
): void {
  const name = `${from}-${i}.bin`;
  const content = rng.bytes(1000 + rng.int(600_000));
  const preview = rng.int(2) === 0 ? rng.bytes(100 + rng.int(3000)) : undefined;
  l.files.set(name, { content, preview });
  r.w.at(delayMs, `attach ${name}`, () => {
    const c = r.w.client(from).client;
    if (c === undefined) return;
    r.notes.attachSent = (r.notes.attachSent ?? 0) + 1;
    c.sendAttachment(r.room, content, {
      mime: "application/octet-stream",
      name,
      ...(preview === undefined ? {} : { thumbnail: { content: preview, mime: "image/jpeg" } }),
    }).then(
      () => {
        r.notes.attachAcked = (r.notes.attachAcked ?? 0) + 1;
      },
      (e: unknown) => {
        // The message naming an acknowledged upload was refused: the hub lost the blob.
        if (e instanceof HubError && e.hubName === "BLOB_NOT_FOUND")
          r.w.violation("upload_ack_durable", `the message of ${name} was refused: ${e.message}`);
      },
    );
  });
}

export const attachments: Scenario = {
  name: "attachments",
  description:
    "members send and fetch files under loss, client crashes and two hub power losses; an outsider tries to fetch; one file is redacted and must be gone",
  clients: 5,
  chaosMs: 25_000,
  convergeMs: 40_000,
  plan: {
    kinds: ["network", "clientCrash", "replayOld"],
    maxLoss: 0.3,
    // u0 redacts, u4 is the outsider: faults leave them alone.
    protect: [0, 4],
    maxEvents: 2,
    maxSkewMs: 1000,
  },
  async setup(r) {
    await roomWith(r, MEMBERS.slice(1));
    const l = new AttachmentLedger(r);
    ledgers.set(r, l);
    r.w.sinkObservers.push((target, frame) => l.served(target, frame));
    r.w.eventObservers.push((node, e) => {
      if (e.type === "message" && node !== OUTSIDER) l.arrived(node, e);
    });
  },
  workload(r) {
    const l = ledgerOf(r);
    const rng = r.rng.fork("files");
    for (const from of MEMBERS) {
      const n = 1 + rng.int(2);
      for (let i = 0; i < n; i++) sendFile(r, l, rng, from, i, rng.int(15_000));
    }
    r.w.at(18_000, "redact an attachment", () => l.redactOne());
  },
  check(r) {
    ledgerOf(r).check();
  },
};
