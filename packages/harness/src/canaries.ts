/**
 * The bugs planted in the cores behind `canary(name)` (@kalandra/proto, simulation only),
 * what each breaks, and which scenarios the CI batch searches to catch it. Each is a
 * one-line edit at the place named; production never switches one on.
 */
export interface CanaryInfo {
  name: string;
  /** Where it is planted and what it breaks. */
  description: string;
  /** Scenarios searched (in this order, over the CI seeds) until an invariant fires. */
  scenarios: readonly string[];
}

export const CANARIES: readonly CanaryInfo[] = [
  {
    name: "ack_before_fsync",
    description: "server AppendBatcher acknowledges a batch before it is durable",
    scenarios: ["hub_crash", "chat10"],
  },
  {
    name: "dedupe_forgets",
    description: "server Idempotency forgets first answers: a resent request is sequenced twice",
    scenarios: ["chat10", "hub_crash"],
  },
  {
    name: "hlc_backwards",
    description: "server HLC trusts the wall clock alone (stamps repeat or go back)",
    scenarios: ["hub_crash", "propose5", "chat10"],
  },
  {
    name: "sync_drops_last",
    description: "server SYNC_PAGE drops its last entry",
    scenarios: ["chat10", "kick_race", "partition"],
  },
  {
    name: "sync_past_head",
    description: "server SYNC_PAGE serves frames past the durable head (awaiting their fsync)",
    scenarios: ["sync_crash"],
  },
  {
    name: "app_epoch_check",
    description: "server accepts application messages of any epoch",
    scenarios: ["partition", "chat10"],
  },
  {
    name: "skip_pending_removal",
    description: "server accepts an external commit while a removal is pending",
    scenarios: ["kick_race"],
  },
  {
    name: "log_index_off_by_one",
    description: "server stamps log_index + 1 past index 4 (a gap in the order clients see)",
    scenarios: ["propose5", "chat10"],
  },
  {
    name: "client_reorder_apply",
    description: "client applies a commit that arrives ahead of its turn, skipping the gap",
    scenarios: ["chat10", "partition"],
  },
  {
    name: "own_commit_before_ack",
    description: "client adopts its own commit before the sequencer accepted it",
    scenarios: ["chat10", "partition"],
  },
  {
    name: "sender_key_reuse",
    description: "client restarts its sending chain at 0 after a restart (key reuse)",
    scenarios: ["chat10", "partition", "hub_crash"],
  },
  {
    name: "kp_credential_unchecked",
    description:
      "server key package directory accepts a credential naming another user than the uploader",
    scenarios: ["impostor_kp"],
  },
  {
    name: "auth_trusts_claim",
    description: "server Authentication: a new device is whoever its HELLO claims to be",
    scenarios: ["impostor_hello"],
  },
  {
    name: "leaf_binding_unchecked",
    description: "server LeafBinding: an Add may bring any credential on any key (a ghost device)",
    scenarios: ["ghost_add"],
  },
  {
    name: "blob_read_unchecked",
    description: "server BlobService: any device may fetch a room's blobs (no membership check)",
    scenarios: ["attachments"],
  },
  {
    name: "blob_ack_before_durable",
    description: "server BlobService acknowledges a complete upload before the blob is durable",
    scenarios: ["attachments"],
  },
  {
    name: "ban_ignored",
    description: "server BanList: no ban is ever in force (a banned user rejoins)",
    scenarios: ["banned_rejoin"],
  },
];
