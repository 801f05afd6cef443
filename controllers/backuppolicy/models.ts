// Pure: which model files a backup with spec.modelArtifacts copies, from
// which objects, and how each object is paired with the digest of the copy.
//
// - InferenceService: spec.model.uri, read with spec.model.credentialsSecret
//   (the Secret the runtime gets as environment: AWS_ENDPOINT_URL, AWS_REGION,
//   keys), pinned by spec.model.sha256 when set.
// - LearningPipeline: status.latestModel (the model its latest run produced,
//   pinned by the sha256 the operator computed) and status.promotion.model
//   (the model last promoted, pinned), read through spec.artifacts.s3 (its
//   endpoint and credentialsSecret) when the URI lies in that bucket. The
//   pipeline's item is paired with latestModel (else the promoted model).
//
// s3:// is copied; file:// lies inside the runtime image and is not copied
// (said so in the manifest's notCopied); pvc:// and http(s):// are recorded
// failures (no guarded reader for them in the operator). One file referenced
// by several objects is copied once: copies are keyed by where the bytes
// are (endpoint, bucket, key), known once the access is resolved.
import type { KubeObject } from '../../operator/kube/resources.ts';
import { parseS3Uri } from '../../operator/storage/addressing.ts';

/** How an s3:// model is reached: the IS's download Secret, or a pipeline's artifacts location. */
export type ArtifactsS3 = {
  endpoint?: string;
  bucket: string;
  region?: string;
  forcePathStyle?: boolean;
  credentialsSecret?: { name: string };
};

export type ModelAccess =
  | { via: 'modelSecret'; namespace: string; secret?: string }
  | { via: 'artifacts'; namespace: string; pipeline: string; s3: ArtifactsS3 };

/** One object's reference to a model file. */
export type ModelRef = {
  /** "InferenceService ns/name". */
  owner: string;
  /** The field that names the model, for messages. */
  field: string;
  uri: string;
  /** Pinned digest (64 hex digits, lowercase), when the object has one. */
  sha256?: string;
  /** Whether the object's item carries this model's digest. */
  paired: boolean;
  access: ModelAccess;
};

export type ModelDecision =
  { copy: true; bucket: string; key: string } | { copy: false; failed: boolean; message: string };

export const ownerOf = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

type IsSpec = {
  model?: { uri?: string; sha256?: string; credentialsSecret?: { name?: string } };
};
type LpModel = { uri?: string; sha256?: string };
type LpObject = KubeObject & {
  spec?: { artifacts?: { s3?: ArtifactsS3 } };
  status?: { latestModel?: LpModel; promotion?: { model?: LpModel } };
};

const pin = (sha?: string) => (sha && /^[0-9a-fA-F]{64}$/.test(sha) ? sha.toLowerCase() : undefined);

/** The model files an object references (none for kinds that reference none). */
export function modelRefsOf(obj: KubeObject): ModelRef[] {
  const namespace = obj.metadata.namespace ?? '';
  const owner = ownerOf(obj);
  if (obj.kind === 'InferenceService') {
    const model = (obj as KubeObject & { spec?: IsSpec }).spec?.model;
    if (!model?.uri) return [];
    const sha256 = pin(model.sha256);
    const secret = model.credentialsSecret?.name;
    return [
      {
        owner,
        field: 'spec.model.uri',
        uri: model.uri,
        ...(sha256 ? { sha256 } : {}),
        paired: true,
        access: { via: 'modelSecret', namespace, ...(secret ? { secret } : {}) },
      },
    ];
  }
  if (obj.kind === 'LearningPipeline') {
    const lp = obj as LpObject;
    const s3 = lp.spec?.artifacts?.s3;
    const candidates: [string, LpModel | undefined][] = [
      ['status.latestModel.uri', lp.status?.latestModel],
      ['status.promotion.model.uri', lp.status?.promotion?.model],
    ];
    const out: ModelRef[] = [];
    for (const [field, m] of candidates) {
      if (!m?.uri || out.some((r) => r.uri === m.uri)) continue;
      const sha256 = pin(m.sha256);
      out.push({
        owner,
        field,
        uri: m.uri,
        ...(sha256 ? { sha256 } : {}),
        paired: out.length === 0,
        access: s3
          ? { via: 'artifacts', namespace, pipeline: obj.metadata.name, s3 }
          : // no artifacts bucket: nothing the pipeline names lets the operator read it
            { via: 'modelSecret', namespace },
      });
    }
    return out;
  }
  return [];
}

/** What to do with a reference, judged on its URI (and, for a pipeline, its artifacts bucket). */
export function decide(ref: ModelRef): ModelDecision {
  let scheme: string;
  try {
    scheme = new URL(ref.uri).protocol;
  } catch {
    return { copy: false, failed: true, message: `${ref.field} "${ref.uri}" is not a URI` };
  }
  if (scheme === 'file:')
    return {
      copy: false,
      failed: false,
      message: `${ref.field} is a file inside the runtime image (file://): not copied; the image holds it`,
    };
  if (scheme === 'pvc:')
    return {
      copy: false,
      failed: true,
      message: `${ref.field}: copying a model from a PersistentVolumeClaim (pvc://) is not supported`,
    };
  if (scheme === 'http:' || scheme === 'https:')
    return {
      copy: false,
      failed: true,
      message: `${ref.field}: copying a model over ${scheme.slice(0, -1)}:// is not supported (only s3://)`,
    };
  if (scheme !== 's3:')
    return { copy: false, failed: true, message: `${ref.field}: scheme ${scheme} is not supported` };
  let loc: { bucket: string; key: string };
  try {
    loc = parseS3Uri(ref.uri);
  } catch (e) {
    return { copy: false, failed: true, message: `${ref.field}: ${(e as Error).message}` };
  }
  if (!loc.key) return { copy: false, failed: true, message: `${ref.field}: "${ref.uri}" names no object` };
  if (ref.access.via === 'artifacts' && ref.access.s3.bucket !== loc.bucket)
    return {
      copy: false,
      failed: true,
      message: `${ref.field}: ${ref.uri} is outside the pipeline's artifacts bucket (${ref.access.s3.bucket}); the operator has no credentials for it`,
    };
  return { copy: true, bucket: loc.bucket, key: loc.key };
}

/** A resolved s3:// source: where the bytes are (the dedup key) and who refers to them. */
export type ModelSource<C> = {
  /** endpoint|bucket|key: the same file however it is referred to. */
  id: string;
  uri: string;
  endpoint: string;
  bucket: string;
  key: string;
  /** How to read it (credentials, addressing): from the first reference that resolved. */
  conn: C;
  refs: ModelRef[];
};

/** Groups resolved references by where their bytes are: each file is copied once. */
export function groupSources<C>(
  resolved: readonly { ref: ModelRef; endpoint: string; bucket: string; key: string; conn: C }[],
): ModelSource<C>[] {
  const out = new Map<string, ModelSource<C>>();
  for (const r of resolved) {
    const id = `${r.endpoint.replace(/\/+$/, '')}|${r.bucket}|${r.key}`;
    const existing = out.get(id);
    if (existing) existing.refs.push(r.ref);
    else
      out.set(id, {
        id,
        uri: r.ref.uri,
        endpoint: r.endpoint,
        bucket: r.bucket,
        key: r.key,
        conn: r.conn,
        refs: [r.ref],
      });
  }
  return [...out.values()];
}

/** Why the copied bytes may not stand for the references: a pin they do not match, or undefined. */
export function pinMismatch(refs: readonly ModelRef[], sha256: string): string | undefined {
  const wrong = refs.filter((r) => r.sha256 !== undefined && r.sha256 !== sha256);
  if (wrong.length === 0) return undefined;
  return wrong
    .map(
      (r) =>
        `${r.owner} pins sha256 ${r.sha256} (${r.field.replace(/\.uri$/, '.sha256')}), the file has ${sha256}`,
    )
    .join('; ');
}

/**
 * The digest each object's item carries: the digest of the copy of its
 * paired model, only when that copy succeeded (a failed or uncopied model
 * pairs nothing). `copied` maps source id to the sha256 of its bytes.
 */
export function pairings<C>(
  sources: readonly ModelSource<C>[],
  copied: ReadonlyMap<string, string>,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of sources) {
    const sha = copied.get(s.id);
    if (!sha) continue;
    for (const r of s.refs) if (r.paired && !out.has(r.owner)) out.set(r.owner, `sha256:${sha}`);
  }
  return out;
}
