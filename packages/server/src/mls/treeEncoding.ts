/**
 * The ratchet_tree encoding (RFC 9420 §12.4.3.3) of a view's tree, carried from epoch to
 * epoch, so that the committer's GroupInfo can be compared with the tree the hub computed
 * piecewise: the nodes a commit replaced one by one, the unchanged runs between them as
 * whole byte ranges of the previous epoch's encoding (one native compare each).
 *
 * Encoding a 10,000-member tree (20,000 nodes, 1.76 MB) and comparing it byte by byte was
 * ~7–10 ms of every commit check (docs/performance.md "10,000-member rooms"). A tree whose
 * predecessor's encoding is unknown (a view just loaded, or the tree's size or last
 * non-blank node changed) is encoded in full, as before; either way the answer is whether
 * the bytes equal `tree.encode()`.
 */
import { bytesEqual, varintPrefix } from "./crypto.js";
import { encodedNode, type PublicTree } from "./tree.js";

/** A tree's encoding without its length prefix, with the offset of every node in it. */
export interface TreeBytes {
  /** Encoding of nodes[0..last]: `01 ‖ node` or `00` each. */
  readonly body: Uint8Array;
  /** offsets[i] = start of node i in body, for i ≤ last + 1 (offsets[last+1] = body.length). */
  readonly offsets: Int32Array;
  readonly last: number;
  readonly nodeCount: number;
}

const ABSENT = Uint8Array.of(0);

function lastNonBlank(tree: PublicTree): number {
  let last = tree.nodes.length - 1;
  while (last >= 0 && tree.nodes[last] === undefined) last--;
  return last;
}

function nodeBytes(tree: PublicTree, i: number): Uint8Array {
  const n = tree.nodes[i];
  return n === undefined ? ABSENT : encodedNode(n);
}

/** The body after its QUIC varint length prefix, if the prefix is the body's length. */
function bodyOf(bytes: Uint8Array, expectedLength: number): Uint8Array | undefined {
  const prefix = varintPrefix(expectedLength);
  if (bytes.length !== prefix.length + expectedLength) return undefined;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return undefined;
  return bytes.subarray(prefix.length);
}

/** Offsets of every node, from each node's (cached) encoding. */
function allOffsets(tree: PublicTree, last: number): Int32Array {
  const offsets = new Int32Array(last + 2);
  let o = 0;
  for (let i = 0; i <= last; i++) {
    offsets[i] = o;
    o += nodeBytes(tree, i).length;
  }
  offsets[last + 1] = o;
  return offsets;
}

/**
 * Whether `bytes` is exactly the ratchet_tree encoding of `tree` (`tree.encode()`). When it
 * is, `tree` keeps the bytes (a copy) as its encoding, for its own next epoch's comparison.
 */
export function matchesTreeEncoding(tree: PublicTree, bytes: Uint8Array): boolean {
  const last = lastNonBlank(tree);
  const base = tree.baseEncoding;
  if (base === undefined || base.nodeCount !== tree.nodes.length || base.last !== last) {
    if (!bytesEqual(bytes, tree.encode())) return false;
    const offsets = allOffsets(tree, last);
    tree.adoptEncoding({
      body: bytes.slice(bytes.length - (offsets[last + 1] as number)),
      offsets,
      last,
      nodeCount: tree.nodes.length,
    });
    return true;
  }
  // Replaced nodes, in order, each once; the new body length follows from theirs.
  const changed = [...new Set(tree.changes.map((c) => c.nodeIndex))]
    .filter((i) => i <= last)
    .sort((a, b) => a - b);
  let length = base.body.length;
  for (const i of changed) {
    length +=
      nodeBytes(tree, i).length - ((base.offsets[i + 1] as number) - (base.offsets[i] as number));
  }
  const body = bodyOf(bytes, length);
  if (body === undefined) return false;
  let pos = 0;
  let from = 0; // first node of the unchanged run before the next changed node
  const runEquals = (to: number): boolean => {
    const start = base.offsets[from] as number;
    const end = base.offsets[to] as number;
    const ok = bytesEqual(body.subarray(pos, pos + end - start), base.body.subarray(start, end));
    pos += end - start;
    return ok;
  };
  for (const i of changed) {
    if (!runEquals(i)) return false;
    const e = nodeBytes(tree, i);
    if (!bytesEqual(body.subarray(pos, pos + e.length), e)) return false;
    pos += e.length;
    from = i + 1;
  }
  if (!runEquals(last + 1)) return false;
  // Offsets shift by the size change of each replaced node before them.
  const offsets = new Int32Array(last + 2);
  let shift = 0;
  let k = 0;
  for (let i = 0; i <= last + 1; i++) {
    offsets[i] = (base.offsets[i] as number) + shift;
    if (k < changed.length && changed[k] === i) {
      const was = (base.offsets[i + 1] as number) - (base.offsets[i] as number);
      shift += nodeBytes(tree, i).length - was;
      k++;
    }
  }
  tree.adoptEncoding({ body: body.slice(), offsets, last, nodeCount: tree.nodes.length });
  return true;
}
